"""tissue_mib.lock: a second writer is refused or waits; dead or silent holders are taken over."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from tissue_mib.errors import InputError
from tissue_mib.lock import FOLDER_LOCK, LockBusy, folder_lock, model_lock, model_lock_path

HOLD = """
import sys
from tissue_mib.lock import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path):
    """A live process holding tmp_path's folder lock until its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.fixture(autouse=True)
def _defaults(monkeypatch):
    monkeypatch.delenv("TISSUE_MIB_LOCK_WAIT", raising=False)
    monkeypatch.delenv("TISSUE_MIB_LOCK_STALE", raising=False)


def _fake_lock(path, *, pid: int, host: str | None = None, age: float = 0.0):
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "2026-12-05T00:00:00+00:00"}))
    then = time.time() - age
    os.utime(path, (then, then))


def test_lock_file_holds_pid_host_start_and_goes_away(tmp_path):
    with folder_lock(tmp_path) as path:
        record = json.loads(path.read_text())
        assert path == tmp_path / FOLDER_LOCK
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname() and record["started"]
        with folder_lock(tmp_path):  # re-entrant within the process
            pass
        assert path.exists()
    assert not path.exists()


def test_second_writer_is_refused_with_one_line(tmp_path, holder):
    with pytest.raises(LockBusy) as info:
        with folder_lock(tmp_path):
            pass
    msg = str(info.value)
    assert isinstance(info.value, InputError) and "\n" not in msg
    assert str(tmp_path / FOLDER_LOCK) in msg and f"pid {holder.pid}" in msg and socket.gethostname() in msg
    assert "TISSUE_MIB_LOCK_WAIT" in msg


def test_second_writer_waits_for_the_first(tmp_path, holder, monkeypatch):
    monkeypatch.setenv("TISSUE_MIB_LOCK_WAIT", "30")
    threading.Timer(1.0, holder.stdin.close).start()  # the holder lets go a second from now
    start = time.monotonic()
    with folder_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert time.monotonic() - start >= 0.9


def test_wait_runs_out_then_refuses(tmp_path, holder, monkeypatch):
    monkeypatch.setenv("TISSUE_MIB_LOCK_WAIT", "0.5")
    start = time.monotonic()
    with pytest.raises(LockBusy, match="after waiting 0.5 s"):
        with folder_lock(tmp_path):
            pass
    assert time.monotonic() - start >= 0.5


def test_dead_pid_on_this_host_is_taken_over(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tissue_mib")  # whatever an earlier CLI run left the root at
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    _fake_lock(tmp_path / FOLDER_LOCK, pid=int(gone.stdout))
    with folder_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert "no longer running" in caplog.text and "taking over" in caplog.text


def test_stale_lock_of_another_host_is_taken_over_a_fresh_one_is_not(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="tissue_mib")  # whatever an earlier CLI run left the root at
    monkeypatch.setenv("TISSUE_MIB_LOCK_STALE", "60")
    _fake_lock(tmp_path / FOLDER_LOCK, pid=1, host="elsewhere", age=10)
    with pytest.raises(LockBusy, match="on host elsewhere"):
        with folder_lock(tmp_path):
            pass
    _fake_lock(tmp_path / FOLDER_LOCK, pid=1, host="elsewhere", age=120)
    with folder_lock(tmp_path):
        pass
    assert "no heartbeat for 120 s" in caplog.text


def test_holder_heartbeat_keeps_its_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("TISSUE_MIB_LOCK_STALE", "0.8")
    with folder_lock(tmp_path) as path:
        old = time.time() - 100
        os.utime(path, (old, old))
        time.sleep(0.6)
        assert time.time() - path.stat().st_mtime < 0.8


def test_release_leaves_a_lock_taken_over_meanwhile(tmp_path):
    with folder_lock(tmp_path) as path:
        _fake_lock(path, pid=1, host="elsewhere")  # another run took it over while this one stalled
    assert json.loads(path.read_text())["host"] == "elsewhere"


def test_model_lock_beside_the_directory_guards_save(tmp_path, tiny_modeldir):
    lock = model_lock_path(tmp_path / "m")
    assert lock == tmp_path / ".m.lock"
    _fake_lock(lock, pid=os.getppid())
    with pytest.raises(LockBusy, match=r"model directory .*m is in use"):
        tiny_modeldir.save(tmp_path / "m")
    assert not (tmp_path / "m").exists()
    lock.unlink()
    with model_lock(tmp_path / "m"):  # the run that holds the lock saves through it
        tiny_modeldir.save(tmp_path / "m")
    assert (tmp_path / "m" / "weights.safetensors").is_file() and not lock.exists()


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_malformed_environment_is_an_input_error(tmp_path, monkeypatch, value):
    monkeypatch.setenv("TISSUE_MIB_LOCK_WAIT", value)
    _fake_lock(tmp_path / FOLDER_LOCK, pid=os.getppid())
    with pytest.raises(InputError, match="TISSUE_MIB_LOCK_WAIT"):
        with folder_lock(tmp_path):
            pass


@pytest.fixture
def tiny_modeldir():
    import torch

    from tissue_mib.train import ModelDir

    class Tiny(torch.nn.Module):
        name = "tiny"

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def config(self):
            return {"name": self.name}

    return ModelDir(method=Tiny(), panel={"hash": "abc", "genes": []}, precision={"resolved": "fp32"})


def test_cli_refuses_a_busy_out_folder_with_exit_2_and_one_line(tmp_path, holder, monkeypatch, capsys):
    from tissue_mib.cli import main

    monkeypatch.setattr(sys, "argv", ["tissue-mib", "-q", "bench", "perf", "--quick", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as info:
        main.app()
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: output folder") and f"pid {holder.pid}" in err and FOLDER_LOCK in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER_LOCK]  # nothing written


def test_a_reused_pid_does_not_keep_a_dead_runs_lock(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="tissue_mib")  # whatever an earlier CLI run left the root at
    """A killed run's pid now taken by another live process (here: this one, as in a fresh container)."""
    path = tmp_path / FOLDER_LOCK
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-12-05T00:00:00+00:00", "proc_start": 1}
    path.write_text(json.dumps(record))
    with folder_lock(tmp_path):
        assert json.loads(path.read_text())["proc_start"] not in (None, 1)
    assert "pid now belongs to another process" in caplog.text
