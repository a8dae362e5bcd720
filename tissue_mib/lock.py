"""Lock files that keep two runs from writing to the same output folder or model directory.

An output folder is locked by `FOLDER/.tissue-mib.lock`, a model directory `DIR` by
`.DIR.lock` beside it (so the lock survives the directory being replaced). The lock file
is created with O_EXCL and holds the holder's pid, host and start time (JSON, with the
process start time from /proc so that a reused pid is not taken for the holder); a thread of
the holder touches it every `stale / 4` seconds (its heartbeat).

A second run waits up to TISSUE_MIB_LOCK_WAIT seconds (default 0: refuse at once) and then
raises `LockBusy` (an `InputError`: one line naming the lock file and its holder, exit 2).
A lock whose pid is dead on this host, or whose heartbeat is older than
TISSUE_MIB_LOCK_STALE seconds (default 600), is taken over with a warning, so a killed run
never leaves a folder locked for good. Locks are re-entrant within a process: `train`
locks its model directory and `ModelDir.save` locks it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)

FOLDER_LOCK = ".tissue-mib.lock"
WAIT_ENV, STALE_ENV = "TISSUE_MIB_LOCK_WAIT", "TISSUE_MIB_LOCK_STALE"
DEFAULT_WAIT, DEFAULT_STALE = 0.0, 600.0
POLL_S = 0.2


class LockBusy(InputError):
    """Another live run holds the lock."""


@dataclass
class _Held:
    """A lock this process holds: its nesting depth and heartbeat thread."""

    pid: int
    token: str
    depth: int = 1
    stop: threading.Event = field(default_factory=threading.Event)


_held: dict[Path, _Held] = {}
_held_guard = threading.Lock()


def folder_lock_path(folder: str | os.PathLike) -> Path:
    """The lock file of output folder `folder`."""
    return Path(folder) / FOLDER_LOCK


def model_lock_path(model_dir: str | os.PathLike) -> Path:
    """The lock file of model directory `model_dir` (beside it)."""
    model_dir = Path(model_dir)
    return model_dir.parent / f".{model_dir.name}.lock"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, *, what: str = "output folder") -> Iterator[Path]:
    """Hold the lock of output folder `folder`; a folder it had to create is removed again if left empty."""
    if Path(folder).exists() and not Path(folder).is_dir():
        raise InputError(f"{folder}: is a file; the {what} must be a folder")
    created = not Path(folder).exists()
    try:
        with hold(folder_lock_path(folder), what=f"{what} {folder}") as path:
            yield path
    finally:
        if created:
            with contextlib.suppress(OSError):  # not empty (outputs written) or gone
                Path(folder).rmdir()


def model_lock(model_dir: str | os.PathLike):
    """Context manager: hold the lock of model directory `model_dir`."""
    return hold(model_lock_path(model_dir), what=f"model directory {model_dir}")


@contextlib.contextmanager
def hold(path: str | os.PathLike, *, what: str) -> Iterator[Path]:
    """Hold lock file `path` for the block; `what` names the guarded thing in messages."""
    path = Path(os.path.realpath(path))
    with _held_guard:
        mine = _held.get(path)
        reenter = mine is not None and mine.pid == os.getpid()
        if reenter:
            mine.depth += 1
    if not reenter:
        _acquire(path, what=what)
    try:
        yield path
    finally:
        _release(path)


def _acquire(path: Path, *, what: str) -> None:
    wait, stale = env_seconds(WAIT_ENV, DEFAULT_WAIT), env_seconds(STALE_ENV, DEFAULT_STALE)
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        token = _create(path)
        if token is not None:
            break
        holder = _holder(path)
        if holder is None:  # released between our attempt and the read: try again at once
            continue
        reason = _takeover_reason(holder, stale)
        if reason is not None:
            logger.warning("%s: taking over lock %s of %s (%s)", what, path, _describe(holder), reason)
            _remove_if_same(path, holder["_inode"])
            continue
        if time.monotonic() >= deadline:
            waited = f" after waiting {wait:g} s" if wait > 0 else ""
            raise LockBusy(
                f"{what} is in use by another run{waited}: lock file {path} held by {_describe(holder)}; "
                f"set {WAIT_ENV}=SECONDS to wait for it, or delete the lock file if that run is gone"
            )
        time.sleep(POLL_S)
    held = _Held(pid=os.getpid(), token=token)
    with _held_guard:
        _held[path] = held
    interval = max(stale / 4, POLL_S)
    threading.Thread(target=_heartbeat, args=(path, held.stop, interval), daemon=True, name=f"lock {path.name}").start()


def _release(path: Path) -> None:
    with _held_guard:
        held = _held[path]
        held.depth -= 1
        if held.depth:
            return
        del _held[path]
    held.stop.set()
    with contextlib.suppress(FileNotFoundError):
        if (_holder(path) or {}).get("token") == held.token:  # not taken over meanwhile
            path.unlink()


def _create(path: Path) -> str | None:
    """Create the lock file with O_EXCL and write who holds it; its token, None when it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return None
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "proc_start": _proc_start(os.getpid()),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "token": uuid.uuid4().hex,
    }
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return record["token"]


def _holder(path: Path) -> dict | None:
    """The lock file's record plus `_age` (seconds since its heartbeat) and `_inode`; None when gone.

    An unreadable record (a holder killed between creating and writing it) is {} plus those keys.
    """
    try:
        st = path.stat()
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
        record = record if isinstance(record, dict) else {}
    except ValueError:
        record = {}
    record["_age"] = time.time() - st.st_mtime
    record["_inode"] = st.st_ino
    return record


def _takeover_reason(holder: dict, stale: float) -> str | None:
    """Why the lock may be taken over (its holder is dead or silent), None while it is live."""
    pid, host = holder.get("pid"), holder.get("host")
    if isinstance(pid, int) and host == socket.gethostname():
        if not _alive(pid):
            return f"process {pid} is no longer running"
        started = holder.get("proc_start")
        if started is not None and started != _proc_start(pid):
            return f"process {pid} is no longer running (its pid now belongs to another process)"
    if holder["_age"] > stale:
        return f"no heartbeat for {holder['_age']:.0f} s > {STALE_ENV}={stale:g}"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _proc_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/PID/stat field 22); None without /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _remove_if_same(path: Path, inode: int) -> None:
    """Remove the lock file judged dead, unless another run replaced it in the meantime."""
    grave = path.with_name(f"{path.name}.dead-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return
    if grave.stat().st_ino != inode:  # a live lock created after our look: give it back
        with contextlib.suppress(FileExistsError):
            os.link(grave, path)
    grave.unlink()


def _heartbeat(path: Path, stop: threading.Event, interval: float) -> None:
    """Touch the lock file every `interval` seconds until `stop` is set."""
    while not stop.wait(interval):
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)


def _describe(holder: dict) -> str:
    if "pid" not in holder:
        return f"an unknown process (unreadable lock file, last touched {holder['_age']:.0f} s ago)"
    return (f"pid {holder['pid']} on host {holder.get('host')} since {holder.get('started')} "
            f"(heartbeat {holder['_age']:.0f} s ago)")  # fmt: skip


def env_seconds(name: str, default: float) -> float:
    """A non-negative number of seconds from environment variable `name`; InputError when malformed."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"environment variable {name}={text!r}: expected a number of seconds >= 0") from None
    if not value >= 0 or value == float("inf"):
        raise InputError(f"environment variable {name}={text!r}: expected a finite number of seconds >= 0")
    return value
