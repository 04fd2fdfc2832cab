"""Dataset-wide edits: the label manager's class edits (rename, merge, delete) and "Add images", undoable and
journaled like the shape edits of :mod:`studio.core.dataset.edits`."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from studio.core.dataset.edits import Command, Delta, _annotation, _fail, _has_annotation, _list_index, register
from studio.core.dataset.model import Dataset
from studio.core.safe_names import name_problem, quoted


def _category(ds: Dataset, category_id: Any, item: str) -> dict:
    if not ds.has_category(category_id):
        raise _fail(ds, "no such class (deleted or never saved)", item)
    return ds.category(category_id)


def _name_taken(ds: Dataset, name: str, but: Any = None) -> str | None:
    """The existing class name equal to ``name`` ignoring case and spaces around (``but``: a category id to skip)."""
    low = name.strip().lower()
    return next(
        (str(c["name"]) for c in ds.categories if c["id"] != but and str(c["name"]).strip().lower() == low), None
    )


def _put_category_back(ds: Dataset, record: dict, index: int | None) -> None:
    """A removed category record back under its own id, at its old place in ``ds.categories``."""
    ds.insert_category(copy.deepcopy(record))
    if index is not None and 0 <= index < len(ds.categories) - 1:
        ds.categories.insert(index, ds.categories.pop())


def _class_item(category_id: Any, record: dict | None = None) -> str:
    name = record.get("name") if record is not None else None
    return f"class {name!r} (id {category_id!r})" if name is not None else f"class id {category_id!r}"


@dataclass
class RenameClass(Command):
    """Give a class another name; the name must be non-empty and differ from every other class's (ignoring case)."""

    op: ClassVar[str] = "rename_class"
    label: ClassVar[str] = "rename class"
    changes_categories: ClassVar[bool] = True
    category_id: Any
    old: str
    new: str

    def apply(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, {"name": self.old})
        cat = _category(ds, self.category_id, item)
        if cat.get("name") != self.old:
            raise _fail(ds, f"its name is {cat.get('name')!r}, expected {self.old!r}", item)
        new = str(self.new).strip()
        if not new:
            raise _fail(ds, "a class needs a name", item)
        if new == self.old:
            raise _fail(ds, "the new name is the old one", item)
        taken = _name_taken(ds, new, but=self.category_id)
        if taken is not None:
            raise _fail(ds, f"a class named {taken!r} already exists (merge into it instead)", item)
        self.new = new
        cat["name"] = new

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, {"name": self.new})
        cat = _category(ds, self.category_id, item)
        if cat.get("name") != self.new:
            raise _fail(ds, f"its name is {cat.get('name')!r}, expected {self.new!r}", item)
        cat["name"] = self.old


@dataclass
class MergeClass(Command):
    """Every annotation of class ``source`` becomes ``target``, and ``source`` goes; revert puts ``source`` back at
    its place in the class list and gives it its annotations back."""

    op: ClassVar[str] = "merge_class"
    label: ClassVar[str] = "merge classes"
    changes_categories: ClassVar[bool] = True
    source: Any
    target: Any
    moved: list | None = None  # [annotation id, image id] of each annotation moved, in dataset order
    category: dict | None = None  # the source category as it was
    index: int | None = None  # its position in ds.categories

    def apply(self, ds: Dataset) -> None:
        item = _class_item(self.source)
        src = _category(ds, self.source, item)
        item = _class_item(self.source, src)
        _category(ds, self.target, _class_item(self.target))
        if self.source == self.target:
            raise _fail(ds, "a class cannot be merged into itself", item)
        anns = [a for a in ds.annotations if a.get("category_id") == self.source]
        self.category, self.index = copy.deepcopy(src), _list_index(ds.categories, src)
        self.moved = [[a["id"], a["image_id"]] for a in anns]
        for a in anns:
            a["category_id"] = self.target
        ds.remove_category(self.source)

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.source, self.category)
        if self.category is None or self.moved is None:
            raise _fail(ds, "cannot undo a merge that was never made", item)
        if ds.has_category(self.source):
            raise _fail(ds, f"category id {self.source!r} is already used", item)
        anns = []
        for aid, _image in self.moved:
            ann = _annotation(ds, aid)
            if ann.get("category_id") != self.target:
                raise _fail(
                    ds, f"its category is {ann.get('category_id')!r}, expected {self.target!r}", f"annotation {aid}"
                )
            anns.append(ann)
        _put_category_back(ds, self.category, self.index)
        for ann in anns:
            ann["category_id"] = self.source

    def deltas(self) -> list[Delta]:
        return [d for _aid, image in self.moved or [] for d in ((image, self.source, -1), (image, self.target, 1))]


@dataclass
class DeleteClass(Command):
    """Remove a class and every annotation of it; revert puts the class and each annotation back, records and
    places in their lists as they were."""

    op: ClassVar[str] = "delete_class"
    label: ClassVar[str] = "delete class"
    changes_categories: ClassVar[bool] = True
    category_id: Any
    category: dict | None = None  # the category as it was
    index: int | None = None  # its position in ds.categories
    removed: list | None = None  # [position in ds.annotations, record] of each annotation deleted, in list order

    def apply(self, ds: Dataset) -> None:
        cat = _category(ds, self.category_id, _class_item(self.category_id))
        self.category, self.index = copy.deepcopy(cat), _list_index(ds.categories, cat)
        removed, kept = [], []
        for i, ann in enumerate(ds.annotations):
            if ann.get("category_id") == self.category_id:
                removed.append([i, copy.deepcopy(ann)])
            else:
                kept.append(ann)
        self.removed = removed
        ds.remove_category(self.category_id)
        if removed:  # one pass over the list, not one list.remove per annotation
            ds.annotations[:] = kept
            ds.reindex()

    def revert(self, ds: Dataset) -> None:
        item = _class_item(self.category_id, self.category)
        if self.category is None or self.removed is None:
            raise _fail(ds, "cannot undo a deletion that was never made", item)
        if ds.has_category(self.category_id):
            raise _fail(ds, f"category id {self.category_id!r} is already used", item)
        for _pos, rec in self.removed:
            if _has_annotation(ds, rec["id"]):
                raise _fail(ds, "this annotation id is already taken", f"annotation {rec['id']}")
            if not ds.has_image(rec["image_id"]):
                raise _fail(ds, f"its image {rec['image_id']} is gone", f"annotation {rec['id']}")
        _put_category_back(ds, self.category, self.index)
        if self.removed:
            merged: list[dict] = []
            rest = iter(ds.annotations)
            for pos, rec in self.removed:  # positions ascend: fill up to each one from the annotations kept
                while len(merged) < pos and (nxt := next(rest, None)) is not None:
                    merged.append(nxt)
                merged.append(copy.deepcopy(rec))
            merged.extend(rest)
            ds.annotations[:] = merged
            ds.reindex()

    def deltas(self) -> list[Delta]:
        return [(rec["image_id"], self.category_id, -1) for _pos, rec in self.removed or []]


@dataclass
class AddImages(Command):
    """New image records with no annotations (``file_name`` relative to the images folder, ``width``, ``height``);
    ids are assigned at the first apply and reused by redo and replay. Revert takes them out again, which needs
    them unannotated (the stack undoes the shapes drawn on them first)."""

    op: ClassVar[str] = "add_images"
    label: ClassVar[str] = "add images"
    changes_images: ClassVar[bool] = True
    images: list[dict]

    def __post_init__(self) -> None:
        self.images = [dict(rec) for rec in self.images]  # ids are written into these: never into the caller's

    def apply(self, ds: Dataset) -> None:
        listed = {im.get("file_name") for im in ds.images}
        names: set[Any] = set()
        ids: set[Any] = set()
        for rec in self.images:
            name = rec.get("file_name")
            item = f"image {quoted(name)}"
            problem = name_problem(name)
            if problem is not None:
                raise _fail(ds, f"the file name {problem}", item)
            if name in listed or name in names:
                raise _fail(ds, "this file is listed already", item)
            size = (rec.get("width"), rec.get("height"))
            if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
                raise _fail(
                    ds, f"an image needs a positive integer width and height, got {size[0]!r} x {size[1]!r}", item
                )
            rid = rec.get("id")
            if rid is not None and (ds.has_image(rid) or rid in ids):
                raise _fail(ds, f"image id {rid!r} is already taken", item)
            names.add(name)
            ids.add(rid)
        for rec in self.images:
            extra = {k: copy.deepcopy(v) for k, v in rec.items() if k not in ("file_name", "width", "height")}
            if extra.get("id") is None:
                extra.pop("id", None)
            rec["id"] = ds.add_image(rec["file_name"], rec["width"], rec["height"], **extra)["id"]

    def revert(self, ds: Dataset) -> None:
        ids = [rec.get("id") for rec in self.images]
        for rec in self.images:
            item = f"image {quoted(rec.get('file_name'))}"
            if rec.get("id") is None or not ds.has_image(rec["id"]):
                raise _fail(ds, "no such image (removed or never added)", item)
            if ds.anns_for_image(rec["id"]):
                raise _fail(ds, "it has annotations now: undo them first", item)
        gone = set(ids)
        ds.images[:] = [im for im in ds.images if im["id"] not in gone]
        ds.reindex()


register(RenameClass, MergeClass, DeleteClass, AddImages)

__all__ = ["AddImages", "DeleteClass", "MergeClass", "RenameClass"]
