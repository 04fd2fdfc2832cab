"""Category ids <-> contiguous model labels.

Models follow torchvision's convention: label 0 is background, the dataset's classes are labels
1..K in the order of ``class_names``. COCO category ids can be anything (the cat set uses 1, the
balloon import 1...), so every conversion goes through one :class:`ClassMap`.
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.core.errors import StudioError


@dataclass(frozen=True)
class ClassMap:
    cat_ids: tuple[int, ...]
    names: tuple[str, ...]

    @classmethod
    def from_dataset(cls, ds) -> ClassMap:
        cats = sorted(ds.categories, key=lambda c: c["id"])
        return cls(tuple(int(c["id"]) for c in cats), tuple(str(c["name"]) for c in cats))

    @classmethod
    def from_names(cls, names, cat_ids=None) -> ClassMap:
        names = tuple(str(n) for n in names)
        ids = tuple(int(i) for i in cat_ids) if cat_ids is not None else tuple(range(1, len(names) + 1))
        return cls(ids, names)

    def __post_init__(self):
        if len(self.cat_ids) != len(self.names):
            raise StudioError(f"{len(self.cat_ids)} category ids for {len(self.names)} class names")
        object.__setattr__(self, "_label_of", {c: i + 1 for i, c in enumerate(self.cat_ids)})

    @property
    def num_classes(self) -> int:
        """Number of object classes (background not counted)."""
        return len(self.names)

    def label_of(self, cat_id: int) -> int:
        try:
            return self._label_of[int(cat_id)]  # type: ignore[attr-defined]
        except KeyError:
            raise StudioError(
                f"category id {cat_id} is not one of the classes {dict(zip(self.cat_ids, self.names))}"
            ) from None

    def cat_id_of(self, label: int) -> int:
        return self.cat_ids[int(label) - 1]

    def name_of_label(self, label: int) -> str:
        return self.names[int(label) - 1]

    def to_dict(self) -> dict:
        return {"cat_ids": list(self.cat_ids), "names": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict) -> ClassMap:
        return cls(tuple(int(i) for i in d["cat_ids"]), tuple(str(n) for n in d["names"]))
