"""The smart tools' edits (BoxToMask, AddParts, Batch: one undo step, one journal record), the brush and eraser's
mask -> polygon step (studio.gui.editor.paint, Qt-free) and the shared tool options; no Qt."""

from __future__ import annotations

import copy

import numpy as np
import orjson
import pytest

from studio.core.dataset.edits import EditStack, command_from_record
from studio.core.dataset.model import Dataset
from studio.core.dataset.recovery import RecoveryJournal, read_journal, recovery_path, replay, save
from studio.core.dataset.shape_edits import AddParts, Batch, BoxToMask, SetShape
from studio.core.errors import DatasetError
from studio.core.geometry import mask_to_rle, polygons_bbox, segmentation_to_mask
from studio.gui.editor.paint import paint, stroke_window
from studio.gui.editor.tool_options import RADIUS_RANGE, ToolOptions

TRI = [12.0, 12.0, 28.0, 12.0, 20.0, 28.0]


def _ds(tmp_path) -> Dataset:
    coco = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
            {"id": 2, "file_name": "b.jpg", "width": 64, "height": 64},
        ],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0},
            {"id": 6, "image_id": 2, "category_id": 1, "bbox": [4, 4, 30, 30], "area": 900, "iscrowd": 0},
        ],
    }
    path = tmp_path / "ann.json"
    path.write_bytes(orjson.dumps(coco))
    return Dataset.load(path)


def _geom(ann: dict) -> dict:
    return {k: copy.deepcopy(ann.get(k)) for k in ("segmentation", "bbox", "area")}


# ----------------------------------------------------------------------------------------------- commands
def test_box_to_mask_keeps_the_drawn_box_unless_refit_and_undoes_exactly(tmp_path):
    ds = _ds(tmp_path)
    before = copy.deepcopy(ds.annotation(5))
    stack = EditStack(ds)
    stack.do(BoxToMask(5, _geom(before), {"segmentation": [TRI], "bbox": before["bbox"], "area": None}))
    ann = ds.annotation(5)
    assert ann["segmentation"] == [TRI] and ann["bbox"] == [10.0, 10.0, 20.0, 20.0]
    assert ann["area"] == pytest.approx(128.0)
    stack.undo()
    assert ds.annotation(5) == before
    stack.do(BoxToMask(5, _geom(before), {"segmentation": [TRI], "bbox": None, "area": None}))
    assert ds.annotation(5)["bbox"] == polygons_bbox([TRI]), "refit: the polygon's own box"
    with pytest.raises(DatasetError, match="box"):
        BoxToMask(6, _geom(ds.annotation(6)), {"segmentation": [TRI], "bbox": [0, 0, -1, 5]}).apply(ds)
    assert "segmentation" not in ds.annotation(6) or not ds.annotation(6)["segmentation"], "refused: unchanged"


def test_a_batch_is_one_undo_step_and_a_failing_one_changes_nothing(tmp_path):
    ds = _ds(tmp_path)
    a5, a6 = copy.deepcopy(ds.annotation(5)), copy.deepcopy(ds.annotation(6))
    stack = EditStack(ds)
    batch = Batch(
        [
            BoxToMask(5, _geom(a5), {"segmentation": [TRI], "bbox": a5["bbox"], "area": None}),
            BoxToMask(6, _geom(a6), {"segmentation": [TRI], "bbox": a6["bbox"], "area": None}),
        ],
        title="box to mask",
    )
    stack.do(batch)
    assert len(stack) == 1 and batch.label == "box to mask" and batch.images_touched() == [1, 2]
    assert batch.image is None and batch.annotation_ids() == [5, 6]
    assert ds.annotation(5)["segmentation"] == [TRI] and ds.annotation(6)["segmentation"] == [TRI]
    stack.undo()
    assert ds.annotation(5) == a5 and ds.annotation(6) == a6
    stack.redo()
    # the second edit no longer applies (its shape changed): the first is taken back too
    stack.undo()
    broken = Batch(
        [
            BoxToMask(5, _geom(a5), {"segmentation": [TRI], "bbox": a5["bbox"], "area": None}),
            SetShape(6, {"segmentation": [[1, 1, 2, 1, 2, 2]], "bbox": [1, 1, 1, 1], "area": 1}, _geom(a6)),
        ]
    )
    with pytest.raises(DatasetError, match="changed since"):
        stack.do(broken)
    assert ds.annotation(5) == a5 and ds.annotation(6) == a6 and len(stack) == 0


def test_a_batch_is_one_journal_record_that_replays(tmp_path):
    ds = _ds(tmp_path)
    ann_path = tmp_path / "ann.json"
    a5 = copy.deepcopy(ds.annotation(5))
    journal = RecoveryJournal(ann_path)
    stack = EditStack(ds, listener=lambda e: journal.append(e.step, e.command))
    stack.do(Batch([BoxToMask(5, _geom(a5), {"segmentation": [TRI], "bbox": a5["bbox"], "area": None})]))
    stack.do(AddParts(1, [{"category_id": 1, "segmentation": [TRI, [50, 50, 60, 50, 55, 60]], "iscrowd": 0}]))
    journal.close()
    steps = read_journal(recovery_path(ann_path)).steps
    assert [s[1]["op"] for s in steps] == ["batch", "add_parts"]
    again = command_from_record(steps[0][1])
    assert isinstance(again, Batch) and isinstance(again.edits[0], BoxToMask)
    assert again.to_record() == steps[0][1], "the record is stable: an edit and its undo cancel out"
    fresh = Dataset.load(ann_path)
    replay(EditStack(fresh), recovery_path(ann_path))
    assert fresh.annotation(5)["segmentation"] == [TRI] and fresh.annotation(5)["bbox"] == a5["bbox"]
    new = fresh.annotations[-1]
    assert len(new["segmentation"]) == 2 and new["image_id"] == 1
    save(fresh, tmp_path / "out.json")
    assert Dataset.load(tmp_path / "out.json").annotation(5)["segmentation"] == [TRI]


# ----------------------------------------------------------------------------------------------- brush / eraser
SQ = [100.0, 100.0, 300.0, 100.0, 300.0, 300.0, 100.0, 300.0]


def _mask(parts, w=4000, h=3000) -> np.ndarray:
    return segmentation_to_mask(parts, h, w) > 0


def test_a_brush_stroke_adds_its_pixels_and_an_eraser_stroke_takes_them_off():
    geom = {"segmentation": [SQ], "bbox": [100, 100, 200, 200]}
    grown = paint(geom, [(300, 200), (350, 200)], 10, erase=False, width=4000, height=3000, tolerance=1.0)
    assert grown.changed and len(grown.parts) == 1
    m = _mask(grown.parts)
    assert m[200, 340] and m[150, 150] and not m[150, 340]
    assert grown.window.x1 - grown.window.x0 < 300, "worked out on a window, not the 4000 px image"
    cut = paint(geom, [(200, 50), (200, 350)], 10, erase=True, width=4000, height=3000, tolerance=1.0)
    assert cut.changed and len(cut.parts) == 2
    assert not _mask(cut.parts)[200, 200]
    gone = paint(geom, [(200, 200)], 200, erase=True, width=4000, height=3000, tolerance=1.0)
    assert gone.changed and gone.parts == []
    inside = paint(geom, [(200, 200)], 5, erase=False, width=4000, height=3000, tolerance=1.0)
    assert not inside.changed
    outside = paint(geom, [(600, 600)], 5, erase=True, width=4000, height=3000, tolerance=1.0)
    assert not outside.changed


def test_strokes_on_the_same_shape_do_not_shrink_it():
    """Each stroke rasterises and outlines the shape again: the outline must give back the same pixels."""
    geom = {"segmentation": [SQ], "bbox": None}
    before = int(_mask([SQ]).sum())
    for _ in range(8):
        r = paint(geom, [(150, 150)], 4, erase=False, width=4000, height=3000, tolerance=0.0)
        r = paint(geom, [(300, 200)], 0.5, erase=False, width=4000, height=3000, tolerance=0.0)
        geom = {"segmentation": r.parts, "bbox": None}
    after = int(_mask(geom["segmentation"]).sum())
    assert before <= after <= before + 8 * 4


def test_masks_boxes_and_new_shapes_are_painted_too():
    m = np.zeros((80, 100), np.uint8)
    m[10:30, 10:40] = 1
    rle = {"segmentation": mask_to_rle(m), "bbox": [10, 10, 30, 20]}
    r = paint(rle, [(45, 20)], 3, erase=False, width=100, height=80, tolerance=0.5)
    back = segmentation_to_mask(r.parts, 80, 100)
    assert back[20, 45] and back[20, 20] and back.sum() > m.sum()
    box = {"segmentation": [], "bbox": [10, 10, 30, 20]}
    r = paint(box, [(10, 20)], 3, erase=True, width=100, height=80, tolerance=0.5)
    assert r.changed and not segmentation_to_mask(r.parts, 80, 100)[20, 10]
    new = paint(None, [(50, 50), (70, 60)], 4, erase=False, width=100, height=80, tolerance=1.0)
    assert new.changed and len(new.parts) == 1
    edge = stroke_window([(-5, -5)], 3, None, 100, 80)
    assert (edge.x0, edge.y0) == (0, 0), "clipped to the image"


def test_a_brush_stroke_on_a_balloon_outline_stays_close_to_it(shared_data):
    """On a real balloon polygon: adding a stroke inside it changes nothing, one across its edge changes only what
    the stroke covers (IoU with the old mask plus the stroke above 0.99)."""
    src = shared_data / "balloon" / "val" / "via_region_data.json"
    if not src.is_file():
        pytest.skip(f"the balloon set is not in {src.parent}")
    via = orjson.loads(src.read_bytes())
    region = next(iter(next(iter(via.values()))["regions"].values()))["shape_attributes"]
    poly = [float(v) for xy in zip(region["all_points_x"], region["all_points_y"]) for v in xy]
    w, h = 2048, 2048
    geom = {"segmentation": [poly], "bbox": polygons_bbox([poly])}
    x, y, bw, bh = geom["bbox"]
    inside = paint(geom, [(x + bw / 2, y + bh / 2)], 5, erase=False, width=w, height=h, tolerance=1.0)
    assert not inside.changed
    stroke = [(x + bw - 5, y + bh / 2), (x + bw + 40, y + bh / 2)]
    r = paint(geom, stroke, 8, erase=False, width=w, height=h, tolerance=0.0)
    old = segmentation_to_mask([poly], h, w) > 0
    new = segmentation_to_mask(r.parts, h, w) > 0
    assert new[round(y + bh / 2), round(x + bw + 35)] and (old & ~new).sum() < 0.002 * old.sum()


def test_tool_options_keep_to_their_ranges_and_step_like_paint_programs():
    opts = ToolOptions(radius=8.0)
    assert opts.step_radius(1) == 10.0 and opts.step_radius(-1) == 8.0
    opts.set_radius(1.0)
    assert opts.step_radius(-1) == RADIUS_RANGE[0] and opts.step_radius(1) == 2.0, "at least a pixel a step"
    assert opts.set_radius(10_000) == RADIUS_RANGE[1] and opts.set_tolerance(-3) == 0.0
