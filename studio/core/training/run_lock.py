"""The run folder's lock: one process at a time trains into a run folder.

``<run_dir>/run.lock`` is created with ``O_CREAT | O_EXCL`` by the process that trains (rank 0) and
holds ``{"pid", "host", "started", "purpose", "token"}``, written and fsynced. A second training into
the folder (a new run, a resume, an extension) refuses while the holder lives. A lock whose host is
this one and whose process is gone (or whose pid now belongs to a process started after the lock) is
stale: the next trainer takes it over. A lock from another host cannot be checked and always refuses.
The lock is released (removed, if it is still ours) when the run ends, however it ends.

The lock file alone never makes a folder look like a run: run listings look for ``events.jsonl``.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from studio.core.errors import StudioError

LOCK_NAME = "run.lock"
#: an unreadable lock (its writer between O_EXCL and write, or killed there) counts as stale after this long
UNREADABLE_STALE_S = 10.0
PID_REUSE_MARGIN_S = 30.0


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    started: float  # unix time the lock was taken
    purpose: str  # what holds it, e.g. the command line
    token: str = ""  # tells two locks of the same pid apart
    path: Path | None = None

    @property
    def local(self) -> bool:
        return self.host == _host()

    def alive(self) -> bool:
        """Whether the holder may still run: always True for another host's lock (it cannot be checked)."""
        if not self.local:
            return True
        if self.pid <= 0:  # unreadable: held while it is fresh (its writer is finishing it)
            return self._age() < UNREADABLE_STALE_S
        if not _pid_alive(self.pid):
            return False
        born = _process_start_time(self.pid)
        # a process younger than the lock reuses a dead holder's pid (the margin: clock steps since boot)
        return born is None or born <= self.started + PID_REUSE_MARGIN_S

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        who = f"pid {self.pid}" if self.pid > 0 else "an unknown process"
        return f"{who} on host {self.host or '?'} since {since}"

    def short(self) -> str:
        """For a table cell: ``held by pid 123 (host)``."""
        return f"held by pid {self.pid} ({self.host})" if self.pid > 0 else "held (lock being written)"

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime if self.path else 0.0
        except OSError:
            return 0.0


def held_message(run_dir: str | Path, info: LockInfo) -> str:
    """The refusal naming the holder and the way out."""
    run_dir = Path(run_dir)
    return (
        f"{run_dir}: this run is being trained by another process ({info.describe()}); wait for it to end or "
        f"stop it; if that process is gone, delete {run_dir / LOCK_NAME}"
    )


class RunHeldError(StudioError):
    """The run folder is locked by another live process."""

    def __init__(self, run_dir: str | Path, info: LockInfo):
        self.run_dir, self.holder = Path(run_dir), info
        super().__init__(held_message(run_dir, info))


def read_lock(run_dir: str | Path) -> LockInfo | None:
    """The lock of ``run_dir`` as written, or None when there is none. An unreadable lock reads as pid 0."""
    path = Path(run_dir) / LOCK_NAME
    info = read_lock_file(path)
    if info is not None:
        return info
    try:
        started = path.stat().st_mtime
    except OSError:
        return None  # no lock (or no folder)
    return LockInfo(0, _host(), started, "", "", path)


def live_lock(run_dir: str | Path) -> LockInfo | None:
    """The lock of ``run_dir`` when its holder may still run (this process included), else None."""
    info = read_lock(run_dir)
    return info if info is not None and info.alive() else None


def lock_holder(run_dir: str | Path) -> LockInfo | None:
    """The live holder of ``run_dir``'s lock when it is another process, else None (for the GUI and run index)."""
    info = live_lock(run_dir)
    if info is None or (info.local and info.pid == os.getpid()):
        return None
    return info


def refuse_if_held(run_dir: str | Path) -> None:
    """Raise :class:`RunHeldError` when a live process (this one included) holds ``run_dir``."""
    info = live_lock(run_dir)
    if info is not None:
        raise RunHeldError(run_dir, info)


class RunLock:
    """``acquire()`` in the training process before it writes the folder; ``release()`` in a finally."""

    def __init__(self, run_dir: str | Path, purpose: str | None = None):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.purpose = purpose if purpose is not None else " ".join(sys.argv)[:500]
        self.info: LockInfo | None = None  # ours, once acquired

    @property
    def held(self) -> bool:
        return self.info is not None

    def acquire(self) -> LockInfo | None:
        """Take the lock; returns the stale lock taken over (or None). Raises :class:`RunHeldError`."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        taken_over = None
        for _ in range(5):
            if self._create():
                return taken_over
            current = read_lock(self.run_dir)
            if current is None:
                continue  # released between our attempt and the read
            if current.alive():
                raise RunHeldError(self.run_dir, current)
            if self._remove_stale(current):
                taken_over = current
        raise StudioError("cannot take the run lock: other processes keep taking it; try again", file=self.path)

    def release(self) -> None:
        """Remove the lock if it is still ours (a stale-lock takeover by another process is left alone)."""
        if self.info is None:
            return
        current = read_lock(self.run_dir)
        if current is not None and current.token == self.info.token and current.pid == self.info.pid:
            try:
                self.path.unlink()
            except OSError:  # gone already, or the disk refuses: a lock of a dead pid is stale for the next run
                pass
        self.info = None

    def _create(self) -> bool:
        info = LockInfo(os.getpid(), _host(), time.time(), self.purpose, secrets.token_hex(8), self.path)
        data = orjson.dumps(
            {"pid": info.pid, "host": info.host, "started": info.started, "purpose": info.purpose, "token": info.token}
        )
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as e:
            self.path.unlink(missing_ok=True)
            raise OSError(e.errno, e.strerror, str(self.path)) from None
        back = read_lock(self.run_dir)  # confirm: nobody removed and re-created it meanwhile
        if back is None or back.token != info.token:
            return False
        self.info = info
        return True

    def _remove_stale(self, stale: LockInfo) -> bool:
        """Move a stale lock out of the way, then check that it was the one judged stale (not a new
        lock another process created in between: that one is put back)."""
        grave = self.path.with_name(f".{LOCK_NAME}.stale.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            os.rename(self.path, grave)
        except FileNotFoundError:
            return False
        moved = read_lock_file(grave)
        if moved is not None and (moved.token, moved.pid, moved.started) != (stale.token, stale.pid, stale.started):
            try:
                os.link(grave, self.path)  # not the stale one: give it back unless a newer lock is there
            except OSError:
                pass
            grave.unlink(missing_ok=True)
            return False
        grave.unlink(missing_ok=True)
        return True

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def read_lock_file(path: Path) -> LockInfo | None:
    """:func:`read_lock` of a lock file under another name."""
    try:
        d = orjson.loads(path.read_bytes())
        return LockInfo(
            int(d["pid"]), str(d["host"]), float(d["started"]), str(d.get("purpose", "")), str(d.get("token", "")), path
        )
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _host() -> str:
    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
        return False
    except OSError:  # PermissionError: it exists, owned by another user
        return True
    return True


def _process_start_time(pid: int) -> float | None:
    """Unix time a process started (Linux /proc), or None when that cannot be told."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22: starttime, in clock ticks after boot
        with open("/proc/stat", "rb") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith(b"btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return None
