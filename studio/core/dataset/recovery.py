"""The recovery journal: every edit is on disk the moment it is made, so a crash loses none.

Next to ``train.json`` the editor keeps ``train.recovery.jsonl``: a header line naming the annotation file
it applies to (with that file's size and modification time), then one line per applied step,
``{"step": "apply" | "revert", "edit": <command record>}``, each flushed and fsynced before the edit
returns. Saving writes the COCO file atomically and then removes the journal (or, when edits were made
while the save was running, rewrites it with only those, on top of the new file).

On open, a journal newer than its annotation file means unsaved edits: :func:`find_recovery` describes it
and :func:`replay` applies it. A torn last line (the crash came mid-write) is ignored. Steps that cancel out
(an edit and its undo, an undo and its redo) are not unsaved edits: a journal whose steps all cancel
(:func:`net_steps`) holds nothing to recover, and :func:`find_recovery` removes it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from studio.core import atomic

# the modules with more edit kinds register them on import: a journal may hold any kind
from studio.core.dataset import dataset_edits, review_edits, shape_edits  # noqa: F401
from studio.core.dataset.edits import Command, EditStack, command_from_record
from studio.core.dataset.model import Dataset
from studio.core.errors import DatasetError, StudioError
from studio.core.jobs import CancelToken, Progress, no_progress

SUFFIX = ".recovery.jsonl"
FORMAT = "studio-recovery"
VERSION = 1
STEPS = ("apply", "revert")


def recovery_path(ann: str | Path) -> Path:
    """``<folder>/<stem>.recovery.jsonl`` for the annotation file ``<folder>/<stem>.json``."""
    ann = Path(ann)
    return ann.with_name(ann.stem + SUFFIX)


def _file_stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0, 0
    return st.st_mtime_ns, st.st_size


def _header(ann: Path) -> bytes:
    mtime, size = _file_stamp(ann)
    head = {"format": FORMAT, "version": VERSION, "annotations": ann.name, "base_mtime_ns": mtime, "base_size": size}
    return orjson.dumps(head) + b"\n"


# ----------------------------------------------------------------------------------------------- reading
@dataclass
class JournalContent:
    header: dict | None
    steps: list[tuple[str, dict]]  # (step, command record), in order
    valid_bytes: int  # length of the file up to the end of its last complete line


def read_journal(path: str | Path) -> JournalContent:
    """Parse a journal; a torn last line is dropped, a broken line before it is an error naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"cannot read the recovery file: {e.strerror or e}", file=path) from None
    *complete, tail = data.split(b"\n")  # a write cut short by a crash never ends with its newline
    header: dict | None = None
    steps: list[tuple[str, dict]] = []
    valid = 0
    for n, line in enumerate(complete, start=1):
        if n == 1:
            header = _parse_header(path, line)
        else:
            _parse_line(path, n, line, steps)
        valid += len(line) + 1
    if tail.strip():
        try:
            _parse_line(path, len(complete) + 1, tail, steps)
            valid = len(data)  # a whole step that only lost its newline
        except DatasetError:
            pass  # torn: ignored
    return JournalContent(header, steps, valid)


def _parse_header(path: Path, line: bytes) -> dict:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise DatasetError("not a Studio recovery file (bad header)", file=path, item="line 1")
    if obj.get("version") != VERSION:
        raise DatasetError(f"unsupported recovery file version {obj.get('version')!r}", file=path, item="line 1")
    return obj


def _parse_line(path: Path, n: int, line: bytes, steps: list[tuple[str, dict]]) -> None:
    if not line.strip():
        return
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise DatasetError("broken line in the recovery file", file=path, item=f"line {n}") from None
    if not isinstance(obj, dict) or obj.get("step") not in STEPS or not isinstance(obj.get("edit"), dict):
        raise DatasetError("not an edit step", file=path, item=f"line {n}")
    steps.append((obj["step"], obj["edit"]))


def net_steps(steps: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The steps left once those that cancel out are taken away: an ``apply`` followed by the ``revert`` of the
    same edit (an edit and its undo), or a ``revert`` followed by its ``apply`` (an undo and its redo), with
    only cancelled steps between them. Empty: replaying the journal gives back the file as it is."""
    left: list[tuple[str, dict]] = []
    for step, record in steps:
        if left and left[-1][1] == record and left[-1][0] != step:
            left.pop()
        else:
            left.append((step, record))
    return left


@dataclass(frozen=True)
class RecoveryInfo:
    """Unsaved edits found next to an annotation file."""

    path: Path
    annotations: Path
    steps: int  # the journal's steps, all replayed
    modified: float  # the journal's modification time (seconds since the epoch)
    base_changed: bool  # the annotation file is not the one the edits were made on
    net: int | None = None  # the steps left once an edit and its undo cancel out (None: not counted)

    def describe(self) -> str:
        note = " The annotation file has changed since; the edits may not apply cleanly." if self.base_changed else ""
        return f"{self.steps} unsaved edit(s) of {self.annotations.name} were found in {self.path.name}.{note}"


def find_recovery(ann: str | Path) -> RecoveryInfo | None:
    """The journal of ``ann`` when it holds edits and is newer than the file, else None.

    A journal whose steps all cancel out (an edit and its undo) holds nothing to recover: it is removed.
    """
    ann = Path(ann)
    path = recovery_path(ann)
    if not path.is_file():
        return None
    st = path.stat()
    ann_mtime, ann_size = _file_stamp(ann)
    if st.st_mtime_ns <= ann_mtime:
        return None  # the file was saved after these edits: nothing to recover
    content = read_journal(path)
    if not content.steps or content.header is None:
        return None
    net = net_steps(content.steps)
    if not net:
        path.unlink(missing_ok=True)
        return None
    head = content.header
    changed = (head.get("base_mtime_ns"), head.get("base_size")) != (ann_mtime, ann_size)
    return RecoveryInfo(path, ann, len(content.steps), st.st_mtime, changed, len(net))


def replay(stack: EditStack, path: str | Path) -> JournalContent:
    """Apply a journal's steps to ``stack.ds`` through ``stack`` (so they can be undone).

    All records are parsed before the dataset is touched; if a step fails to apply, the steps already
    applied are reverted and the error names the line.
    """
    path = Path(path)
    content = read_journal(path)
    first_step_line = 2
    parsed: list[tuple[str, Command]] = []
    for i, (step, rec) in enumerate(content.steps):
        try:
            parsed.append((step, command_from_record(rec)))
        except ValueError as e:
            raise DatasetError(str(e), file=path, item=f"line {first_step_line + i}") from None
    done: list[tuple[str, Command]] = []
    for i, (step, cmd) in enumerate(parsed):
        try:
            stack.replay(step, cmd)
        except StudioError as e:
            _roll_back(stack, done)
            line = f"line {first_step_line + i}"
            raise DatasetError(f"cannot replay this edit: {e.message}", file=path, item=line) from None
        done.append((step, cmd))
    return content


def _roll_back(stack: EditStack, done: list[tuple[str, Command]]) -> None:
    """Take back replayed steps, newest first, through the stack (its listeners see every one)."""
    for step, cmd in reversed(done):
        with contextlib.suppress(StudioError):
            stack.replay("revert" if step == "apply" else "apply", cmd)


# ----------------------------------------------------------------------------------------------- writing
class RecoveryJournal:
    """Appends the steps of one editing session to ``recovery_path(ann)``.

    The file is created at the first step (a fresh journal replaces any stale one); ``resume`` continues a
    journal that was just replayed, after cutting a torn last line.
    """

    def __init__(self, ann: str | Path):
        self.ann = Path(ann)
        self.path = recovery_path(self.ann)
        self._file: BinaryIO | None = None
        self._append = False  # False: the first write starts a new journal
        self._during_save: list[bytes] | None = None

    @classmethod
    def resume(cls, ann: str | Path, content: JournalContent) -> RecoveryJournal:
        journal = cls(ann)
        with open(journal.path, "r+b") as f:
            f.truncate(content.valid_bytes)
            if content.valid_bytes:
                f.seek(content.valid_bytes - 1)
                if f.read(1) != b"\n":
                    f.write(b"\n")
        journal._append = True
        return journal

    def append(self, step: str, command: Command) -> None:
        """Write one step and force it to disk."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        line = orjson.dumps({"step": step, "edit": command.to_record()}) + b"\n"
        f = self._open()
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
        if self._during_save is not None:
            self._during_save.append(line)

    def _open(self) -> BinaryIO:
        if self._file is None:
            if self._append:
                self._file = open(self.path, "ab")
            else:
                self._file = open(self.path, "wb")
                self._file.write(_header(self.ann))
                self._append = True
        return self._file

    # ------------------------------------------------------------------ saving
    def begin_save(self) -> None:
        """A snapshot of the dataset is being written: remember the steps made from now on."""
        self._during_save = []

    def end_save(self, ok: bool) -> None:
        """After the write: on success the journal restarts on the new file with only the steps made during
        the save (removed when there were none); on failure it carries on unchanged."""
        lines, self._during_save = self._during_save or [], None
        if not ok:
            return
        self.close()
        if lines:
            atomic.write_bytes(self.path, _header(self.ann) + b"".join(lines))
            self._append = True
        else:
            self.path.unlink(missing_ok=True)
            self._append = False

    def discard(self) -> None:
        """Forget every step (after a plain save, or when the user declines a recovery)."""
        self.close()
        self.path.unlink(missing_ok=True)
        self._append = False

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


# ----------------------------------------------------------------------------------------------- saving
def snapshot(ds: Dataset) -> bytes:
    """The dataset as COCO JSON bytes, taken where it is edited so a writer thread never sees it change."""
    return orjson.dumps(ds.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)


def write_snapshot(
    path: str | Path, payload: bytes, progress: Progress = no_progress, cancel: CancelToken | None = None
) -> Path:
    """Write a :func:`snapshot` atomically (a job for a worker thread).

    The token is not checked: the write is one short atomic step, and a save started at window close
    must still land.
    """
    progress(0, 1, f"saving {Path(path).name}")
    try:
        atomic.write_bytes(path, payload)
    except OSError as e:
        raise DatasetError(f"cannot save: {e.strerror or e}", file=path) from None
    progress(1, 1, "saved")
    return Path(path)


def save(ds: Dataset, ann: str | Path, journal: RecoveryJournal | None = None) -> None:
    """Write ``ds`` to ``ann`` atomically, then drop the recovery journal (its edits are in the file now)."""
    ds.save(ann)
    if journal is not None:
        journal.discard()
    else:
        recovery_path(ann).unlink(missing_ok=True)


__all__ = [
    "JournalContent",
    "RecoveryInfo",
    "RecoveryJournal",
    "find_recovery",
    "net_steps",
    "read_journal",
    "recovery_path",
    "replay",
    "save",
    "snapshot",
    "write_snapshot",
]
