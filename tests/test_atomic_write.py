"""atomic_write: hidden fsynced temporaries renamed into place; remove_partials cleans what killed writers left."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest

from tissue_mib.utils import atomic_write, remove_partials

KILL_MID_WRITE = """
import os, signal, sys
from tissue_mib.utils import atomic_write
with atomic_write(sys.argv[1]) as tmp:
    with open(tmp, "w") as fh:
        fh.write("half of the new")
        fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_writes_through_a_hidden_temporary_with_the_suffix(tmp_path):
    target = tmp_path / "a.scored.h5ad"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".a.scored.h5ad.tmp-") and tmp.suffix == ".h5ad"
        assert not target.exists()
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["a.scored.h5ad"]


def test_a_failing_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_file_and_folder_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with atomic_write(tmp_path / "m.json") as tmp:
        tmp.write_text("{}")
        name = tmp.name
    assert synced == [str(tmp_path / name), str(tmp_path)]


def test_sigkill_mid_write_leaves_no_partial_target_and_remove_partials_cleans(tmp_path):
    target = tmp_path / "x.geojson"
    target.write_text("old")
    (tmp_path / "other.csv").write_text("kept")
    proc = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, str(target)], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "old"
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.geojson.tmp-")]
    assert len(left) == 1  # the killed writer's temporary: hidden, never under the real name
    assert remove_partials(tmp_path, ["y.geojson"]) == []  # only the named targets' temporaries
    assert [p.name for p in remove_partials(tmp_path)] == left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.csv", "x.geojson"]


def test_remove_partials_removes_temporary_folders(tmp_path):
    (tmp_path / ".model.tmp-abc").mkdir()
    (tmp_path / ".model.tmp-abc" / "weights.safetensors").write_bytes(b"x")
    (tmp_path / "model").mkdir()
    assert [p.name for p in remove_partials(tmp_path, ["model"])] == [".model.tmp-abc"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    assert remove_partials(tmp_path / "missing") == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
