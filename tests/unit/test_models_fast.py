"""seg_fast / det_fast: assignment, losses, output contract, and learning a known object."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import box_iou

from studio.core.export.onnx_export import mask_size
from studio.core.inference.predictor import configure_postprocess
from studio.core.models import build_model
from studio.core.models.fast import FastConfig, FastDetector
from studio.core.models.fast.assign import pairwise_iou, task_aligned_assign
from studio.core.models.fast.loss import box_to_distances, distribution_focal_loss
from studio.core.models.fast.net import make_anchors


def _anchors_grid(n: int, stride: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], 1) * stride


def test_pairwise_iou_broadcasts_and_handles_disjoint_boxes():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]])
    iou = pairwise_iou(a[:, None], b[None])
    assert torch.allclose(iou, torch.tensor([[1.0, 25 / 175, 0.0]]), atol=1e-6)


def test_assigner_takes_topk_anchors_inside_the_box_ranked_by_alignment():
    anchors = _anchors_grid(8, 8.0)  # 64 anchors over a 64 x 64 image
    a = anchors.shape[0]
    gt = torch.tensor([[[8.0, 8.0, 40.0, 40.0]]])  # anchor centres inside: x, y in {12, 20, 28, 36}: 16 anchors
    # predictions: every anchor predicts the gt box; scores increase with the anchor index
    pred_boxes = gt[:, :1].expand(1, a, 4).clone()
    scores = torch.linspace(0.01, 0.99, a).view(1, a, 1)
    asg = task_aligned_assign(scores, pred_boxes, anchors, gt, torch.tensor([[0]]), torch.tensor([[True]]), topk=5)
    fg = asg.fg[0]
    assert int(fg.sum()) == 5
    inside = (anchors[:, 0] > 8) & (anchors[:, 0] < 40) & (anchors[:, 1] > 8) & (anchors[:, 1] < 40)
    assert bool(inside[fg].all())
    # the five with the highest scores among those inside
    expected = torch.nonzero(inside).flatten()[-5:]
    assert sorted(torch.nonzero(fg).flatten().tolist()) == sorted(expected.tolist())
    # targets: the best anchor gets the object's best IoU (1 here), the others less, negatives 0
    assert asg.scores[0, fg, 0].max() == pytest.approx(1.0, abs=1e-5)
    assert float(asg.scores[0, ~fg].abs().sum()) == 0.0
    assert torch.equal(asg.boxes[0, fg], gt[0].expand(5, 4))


def test_assigner_gives_a_shared_anchor_to_the_object_it_overlaps_most_and_ignores_padding():
    anchors = torch.tensor([[20.0, 20.0], [60.0, 60.0]])
    gts = torch.tensor([[[0.0, 0.0, 40.0, 40.0], [10.0, 10.0, 30.0, 30.0], [0.0, 0.0, 100.0, 100.0]]])
    valid = torch.tensor([[True, True, False]])  # the third is padding
    pred = torch.tensor([[[10.0, 10.0, 30.0, 30.0], [50.0, 50.0, 70.0, 70.0]]])
    asg = task_aligned_assign(torch.full((1, 2, 2), 0.5), pred, anchors, gts, torch.tensor([[0, 1, 0]]), valid, topk=3)
    assert asg.fg[0].tolist() == [True, False]  # anchor 2 lies only in the padded box
    assert asg.gt_index[0, 0] == 1 and asg.labels[0, 0] == 1  # exact overlap with the small box wins


def test_assigner_with_no_objects_assigns_nothing():
    asg = task_aligned_assign(
        torch.rand(2, 10, 3),
        torch.rand(2, 10, 4),
        torch.rand(10, 2),
        torch.zeros(2, 0, 4),
        torch.zeros(2, 0, dtype=torch.long),
        torch.zeros(2, 0, dtype=torch.bool),
    )
    assert not asg.fg.any() and asg.scores.sum() == 0


def test_distribution_focal_loss_is_the_cross_entropy_of_the_two_neighbour_bins():
    logits = torch.randn(3, 4, 16)
    target = torch.full((3, 4), 5.0)
    expected = -torch.log_softmax(logits, -1)[..., 5].mean(-1)
    assert torch.allclose(distribution_focal_loss(logits, target), expected, atol=1e-6)
    # halfway between two bins: the mean of both cross-entropies
    half = distribution_focal_loss(logits, torch.full((3, 4), 5.5))
    both = -(torch.log_softmax(logits, -1)[..., 5] + torch.log_softmax(logits, -1)[..., 6]).mean(-1) / 2
    assert torch.allclose(half, both, atol=1e-6)


def test_box_distances_are_in_stride_units_and_clamped_to_the_bins():
    anchors = torch.tensor([[16.0, 16.0]])
    d = box_to_distances(anchors, torch.tensor([[8.0, 0.0, 24.0, 400.0]]), torch.tensor([8.0]), reg_max=16)
    assert d.tolist()[0][:3] == [1.0, 2.0, 1.0] and d[0, 3] == pytest.approx(15 - 0.01)


def test_anchors_are_cell_centres_of_every_level():
    levels = [torch.zeros(1, 1, 4, 6), torch.zeros(1, 1, 2, 3), torch.zeros(1, 1, 1, 2)]
    pts, strides = make_anchors(levels)
    assert pts.shape == (24 + 6 + 2, 2)
    assert pts[0].tolist() == [4.0, 4.0] and pts[23].tolist() == [44.0, 28.0]
    assert pts[24].tolist() == [8.0, 8.0] and strides[24] == 16 and strides[-1] == 32


def test_config_is_validated():
    with pytest.raises(ValueError):
        FastConfig(widths=(16, 32, 64, 128))
    with pytest.raises(ValueError):
        FastConfig(reg_max=1)


def test_det_fast_has_no_mask_branch_and_seg_fast_exports_its_mask_size():
    det = build_model("det_fast", 2, image_size=320)
    seg = build_model("seg_fast", 2, image_size=320)
    assert det.protos is None and det.head.coef is None and mask_size(det) is None
    assert mask_size(seg) == 28
    assert sum(p.numel() for p in seg.parameters()) < 4e6


def test_postprocess_follows_the_configured_threshold_and_count():
    torch.manual_seed(0)
    model = FastDetector(3, masks=True, image_size=128).eval()
    configure_postprocess(model, 0.0, 7)
    assert (model.score_thresh, model.detections_per_img) == (0.0, 7)
    with torch.no_grad():
        out = model([torch.rand(3, 96, 128)])[0]
    assert out["boxes"].shape == (7, 4) and out["masks"].shape == (7, 1, 96, 128)
    assert bool((out["scores"][:-1] >= out["scores"][1:]).all())
    configure_postprocess(model, 0.99, 7)
    with torch.no_grad():
        assert model([torch.rand(3, 96, 128)])[0]["boxes"].shape[0] == 0


def test_scores_stay_connected_to_the_graph_in_eval_mode():
    """What CAM needs: a detection's score has a gradient back to the features."""
    model = FastDetector(1, masks=True, image_size=128).eval()
    configure_postprocess(model, 0.0, 5)
    x = torch.rand(3, 64, 64, requires_grad=True)
    out = model([x])[0]
    out["scores"][0].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_batch_without_objects_trains():
    model = FastDetector(2, masks=True, image_size=64).train()
    empty = {
        "boxes": torch.zeros(0, 4),
        "labels": torch.zeros(0, dtype=torch.long),
        "masks": torch.zeros(0, 64, 64, dtype=torch.uint8),
    }
    losses = model([torch.rand(3, 64, 64)], [empty])
    assert set(losses) == {"loss_cls", "loss_box", "loss_dfl", "loss_mask"}
    assert all(math.isfinite(float(v)) for v in losses.values())
    sum(losses.values()).backward()


def test_seg_fast_learns_a_box_and_its_mask_at_a_known_place():
    """Overfit one image (and its mirror): the top detection lands on the disc, its mask is the disc."""
    torch.manual_seed(0)
    h, w = 96, 128
    yy, xx = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    disc = ((xx - 80) ** 2 + (yy - 48) ** 2 <= 24**2).to(torch.uint8)
    img = torch.full((3, h, w), 0.2)
    img[:, disc.bool()] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    target = {"boxes": torch.tensor([[56.0, 24.0, 104.0, 72.0]]), "labels": torch.tensor([2]), "masks": disc[None]}
    flipped = {
        "boxes": torch.tensor([[24.0, 24.0, 72.0, 72.0]]),
        "labels": torch.tensor([2]),
        "masks": disc.flip(-1)[None],
    }
    model = FastDetector(3, masks=True, image_size=128)
    steps = 60
    opt = torch.optim.AdamW(model.parameters(), lr=0.004, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.004, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(steps):
        losses = model([img, img.flip(-1)] * 2, [target, flipped] * 2)
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
        sched.step()
    # precise BatchNorm: 60 steps are too few for running statistics at momentum 0.03 to catch up (a real
    # run has hundreds), so set them to the training batch's exact statistics before evaluating
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass gives the batch's statistics
    with torch.no_grad():
        model([img, img.flip(-1)] * 2, [target, flipped] * 2)
    model.eval()
    with torch.no_grad():
        det = model([img])[0]
    assert det["labels"][0] == 2 and det["scores"][0] > 0.3
    assert box_iou(det["boxes"][:1], target["boxes"]).item() > 0.7
    mask = det["masks"][0, 0] > 0.5
    inter = (mask & disc.bool()).sum().item()
    union = (mask | disc.bool()).sum().item()
    assert inter / union > 0.7
