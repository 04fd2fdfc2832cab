"""Python API matching ``studio dataset new`` and ``studio dataset classes``: a dataset started from a folder of
unlabelled images, and the label manager's dataset-wide class edits for scripts.

Both return data and raise :class:`studio.core.errors.StudioError` with a message naming the file and the class or
option at fault; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.dataset.dataset_edits import DeleteClass, MergeClass, RenameClass
from studio.core.dataset.edits import Command, EditStack
from studio.core.dataset.model import Dataset, record_images_dir, recorded_images_dir
from studio.core.dataset.new_project import (
    NOT_CLASSES,
    NewProjectResult,
    check_new_output,
    new_dataset,
    parse_class_names,
)
from studio.core.errors import DatasetError
from studio.core.jobs import CancelToken, Progress, no_progress
from studio.core.safe_names import quoted
from studio.core.text import plural

__all__ = ["ClassEditResult", "dataset_classes", "dataset_new", "read_class_file"]

#: a class edit: ("rename", old, new), ("merge", source, target) or ("delete", name)
ClassOp = tuple[str, ...]


@dataclass
class ClassEditResult:
    dataset: Dataset
    output: Path
    changes: list[str] = field(default_factory=list)  # one line per edit, as the CLI prints them


def read_class_file(path: str | Path) -> list[str]:
    """Class names from a text file: one a line (commas separate too); labelme's ``__ignore__`` and
    ``_background_`` lines are left out. Errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError("class names file not found", file=path) from None
    except IsADirectoryError:
        raise DatasetError("is a folder: name the text file with the class names (one a line)", file=path) from None
    except UnicodeDecodeError as e:
        raise DatasetError(f"not UTF-8 text (byte {e.start})", file=path) from None
    names = parse_class_names(text)
    if not names:
        skipped = f" besides {', '.join(sorted(NOT_CLASSES))}" if any(n in text for n in NOT_CLASSES) else ""
        raise DatasetError(f"holds no class name{skipped} (one name a line)", file=path)
    return names


def dataset_new(
    images: str | Path,
    classes: Sequence[str],
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> NewProjectResult:
    """``studio dataset new``: a COCO file at ``out`` listing every image under ``images`` with its size, no
    annotations and ``classes`` in that order (see :func:`studio.core.dataset.new_project.new_dataset`)."""
    return new_dataset(images, classes, out, overwrite=overwrite, progress=progress, cancel=cancel)


def _category_id(ds: Dataset, name: str, ann: Path) -> int:
    cid = ds.category_id(name)
    if cid is None:
        known = ", ".join(quoted(n) for n in ds.class_names) or "none"
        raise DatasetError(f"no class named {quoted(name)} (classes: {known})", file=ann, item=f"class {quoted(name)}")
    return cid


def class_command(ds: Dataset, op: ClassOp, ann: Path) -> Command:
    """The undoable edit one ``op`` stands for, its class names looked up in ``ds``."""
    kind, *names = op
    if kind == "rename" and len(names) == 2:
        return RenameClass(_category_id(ds, names[0], ann), names[0], names[1])
    if kind == "merge" and len(names) == 2:
        return MergeClass(_category_id(ds, names[0], ann), _category_id(ds, names[1], ann))
    if kind == "delete" and len(names) == 1:
        return DeleteClass(_category_id(ds, names[0], ann))
    raise ValueError(f"not a class edit: {op!r}")


def describe(command: Command, ds: Dataset) -> str:
    """One line for a class edit applied to ``ds``: what changed, and how many annotations it touched."""
    if isinstance(command, RenameClass):
        return f"renamed class {quoted(command.old)} to {quoted(command.new)}"
    if isinstance(command, MergeClass):
        name = (command.category or {}).get("name")
        into = ds.category(command.target).get("name")
        return f"merged class {quoted(name)} into {quoted(into)} ({plural(len(command.moved or []), 'annotation')})"
    if isinstance(command, DeleteClass):
        name = (command.category or {}).get("name")
        return f"deleted class {quoted(name)} and its {plural(len(command.removed or []), 'annotation')}"
    return command.label


def dataset_classes(
    ann: str | Path, out: str | Path, ops: Sequence[ClassOp], *, overwrite: bool = False
) -> ClassEditResult:
    """``studio dataset classes``: apply ``ops`` in order (the same edits as the label manager) and write ``out``.

    ``out`` may be ``ann`` itself only with ``overwrite``; it keeps pointing at the same images folder.
    """
    ann, out = Path(ann), check_new_output(out, overwrite)
    if not ops:
        raise DatasetError("no class edit given (--rename OLD=NEW, --merge A=B or --delete NAME)", file=ann)
    ds = Dataset.load(ann)
    images_dir = recorded_images_dir(ann, ds)
    stack = EditStack(ds)
    changes = []
    for op in ops:
        command = class_command(ds, op, ann)
        stack.do(command)  # a refused edit raises naming the class, before anything is written
        changes.append(describe(command, ds))
    if images_dir is not None:
        record_images_dir(ds, images_dir, out.parent)
    ds.save(out)
    return ClassEditResult(ds, out, changes)
