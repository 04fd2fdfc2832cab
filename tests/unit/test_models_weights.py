"""Weights: torchvision names through the hub cache (offline here), files, Studio checkpoints, bad files.

Every file is made by the test (tiny built models saved with torch.save); the network is never used:
an autouse fixture makes every download attempt fail as it would offline.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
from torch import nn
from torchvision.models import detection as tvd
from torchvision.models import mobilenet_v3_large
from torchvision.ops.misc import FrozenBatchNorm2d

from studio.core.data.classes import ClassMap
from studio.core.errors import CancelledError
from studio.core.jobs import CancelToken
from studio.core.models import WeightsError, WeightsSource, build_model, check_weights, hub, load_weights
from studio.core.models.hub import HubWeights

K = 3
SSDLITE = "ssdlite320_mobilenet_v3_large"
SSDLITE_FILE = "ssdlite320_mobilenet_v3_large_coco-a79551df.pth"
SSDLITE_URL = "https://download.pytorch.org/models/" + SSDLITE_FILE


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Downloads fail as on a machine without internet; records the timeouts asked for."""
    calls = []

    def urlopen(url, timeout=None):
        calls.append((url, timeout))
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(hub, "urlopen", urlopen)
    return calls


@pytest.fixture
def hub_dir(tmp_path):
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub" / "checkpoints"
    torch.hub.set_dir(old)


@pytest.fixture(scope="module")
def coco_ssdlite() -> dict:
    """What torchvision's COCO file holds: an ssdlite state dict with 91 classes (here random)."""
    torch.manual_seed(1)
    return tvd.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91).state_dict()


@pytest.fixture
def coco_in_hub(hub_dir, coco_ssdlite) -> dict:
    hub_dir.mkdir(parents=True)
    torch.save(coco_ssdlite, hub_dir / SSDLITE_FILE)
    return coco_ssdlite


def _lite(name: str = "det_lite", classes: int = K, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(name, classes, image_size=320)


def _studio_checkpoint(model: nn.Module, names: list[str], ema: dict | None = None) -> dict:
    return {
        "format": "studio-checkpoint",
        "version": 1,
        "arch": model.studio_arch,
        "classes": ClassMap.from_names(names).to_dict(),
        "config": {"model": {"arch": model.studio_arch}},
        "model": model.state_dict(),
        "ema": ema,
        "optimizer": {},
        "scheduler": {},
        "epoch": 7,
        "best_metric": None,
    }


# ----------------------------------------------------------------- nothing


@pytest.mark.parametrize("value", [None, "", "none", " None "])
def test_nothing_means_random_init(value):
    src = check_weights("det_lite", value)
    assert src.kind == "none" and "random" in str(src)
    assert build_model("det_lite", K, image_size=320, weights=value).studio_weights is None


# ------------------------------------------------------------ torchvision


@pytest.mark.parametrize("name", ["DEFAULT", "coco_v1", "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1"])
def test_torchvision_name_is_found_in_the_hub_cache(name, hub_dir, coco_in_hub, offline):
    src = check_weights(SSDLITE, name)
    assert src.kind == "torchvision" and src.path == hub_dir / SSDLITE_FILE
    assert src.name == "SSDLite320_MobileNet_V3_Large_Weights.COCO_V1" and src.url == SSDLITE_URL
    assert offline == []  # found: no download attempted


def test_coco_weights_fine_tune_to_other_classes(coco_in_hub):
    coco = coco_in_hub
    lines: list[str] = []
    model = build_model(SSDLITE, K, image_size=320, weights="DEFAULT", log=lines.append)
    report = model.studio_weights
    skipped = {name: (a, b) for name, a, b in report.skipped_shape}
    # the last conv of the class head on each of the 6 levels, and nothing else
    assert set(skipped) == {
        f"head.classification_head.module_list.{i}.1.{p}" for i in range(6) for p in ("weight", "bias")
    }
    w = "head.classification_head.module_list.0.1.weight"
    assert skipped[w] == (tuple(coco[w].shape), tuple(model.state_dict()[w].shape))
    assert skipped[w][0][0] == 6 * 91 and skipped[w][1][0] == 6 * (K + 1)
    assert report.missing == [] and report.unexpected == []  # skipped tensors are listed once, as skipped
    assert len(report.loaded) == report.total - len(skipped) and report.fraction > 0.9
    b = "backbone.features.0.0.0.weight"
    assert torch.equal(model.state_dict()[b], coco[b])
    assert lines[0] == report.summary() and "loaded" in lines[0] and f"{len(skipped)} skipped" in lines[0]
    assert any("shape differs" in line for line in lines) and any(w in line for line in lines)


def test_coco_weights_get_torchvision_fine_tuning_setup(hub_dir):
    """Frozen BN and frozen first stages, with the BN statistics of the file."""
    name = "fasterrcnn_mobilenet_v3_large_320_fpn"
    fn = tvd.fasterrcnn_mobilenet_v3_large_320_fpn
    coco = fn(weights=None, weights_backbone=None, num_classes=91).state_dict()
    w = hub.resolve(name, "FasterRCNN_MobileNet_V3_Large_320_FPN_Weights", "DEFAULT")
    w.path.parent.mkdir(parents=True)
    coco["backbone.body.0.1.running_mean"] = torch.rand_like(coco["backbone.body.0.1.running_mean"])
    torch.save(coco, w.path)
    model = build_model(name, K, image_size=320, weights="DEFAULT")
    bn = model.backbone.body["0"][1]
    assert isinstance(bn, FrozenBatchNorm2d) and torch.equal(bn.running_mean, coco["backbone.body.0.1.running_mean"])
    assert not model.backbone.body["0"][0].weight.requires_grad and model.backbone.body["16"][0].weight.requires_grad
    assert model.studio_weights.unexpected == []  # the file's BN batch counters are not reported


def test_torchvision_weights_offline_say_which_file_goes_where(hub_dir, offline):
    with pytest.raises(WeightsError) as e:
        check_weights(SSDLITE, "DEFAULT")
    msg = str(e.value)
    assert SSDLITE_FILE in msg and SSDLITE_URL in msg and str(hub_dir) in msg
    assert "download failed" in msg and "name resolution" in msg
    assert offline == [(SSDLITE_URL, 10.0)]  # one short-timeout attempt
    assert not hub_dir.exists() or list(hub_dir.iterdir()) == []  # nothing half-written
    with pytest.raises(WeightsError, match="download failed"):
        build_model(SSDLITE, K, image_size=320, weights="COCO_V1")
    with pytest.raises(WeightsError, match=f"Download {SSDLITE_URL}"):
        check_weights(SSDLITE, "DEFAULT", download=False)
    assert len(offline) == 2


class _Response(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_download_fills_the_cache_atomically_and_checks_the_hash(tmp_path, monkeypatch):
    data = b"x" * (3 * hub.CHUNK + 10)
    sha = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(hub, "urlopen", lambda url, timeout=None: _Response(data))
    seen = []
    good = HubWeights("W.COCO_V1", f"https://example.invalid/w-{sha[:8]}.pth", tmp_path / f"w-{sha[:8]}.pth", 91)
    assert hub.download(good, progress=lambda d, t, m="": seen.append((d, t))) == good.path
    assert good.path.read_bytes() == data and seen[-1] == (len(data), len(data)) and len(seen) == 4

    bad = HubWeights("W.COCO_V1", "https://example.invalid/v-0123abcd.pth", tmp_path / "v-0123abcd.pth", 91)
    with pytest.raises(WeightsError, match="corrupt"):
        hub.download(bad)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        hub.download(HubWeights("W.X", "https://example.invalid/c.pth", tmp_path / "c.pth", 91), cancel=token)
    assert sorted(p.name for p in tmp_path.iterdir()) == [good.path.name]  # no partial files


def test_torchvision_names_that_do_not_fit_the_arch():
    with pytest.raises(WeightsError, match="COCO_V1, DEFAULT") as e:
        check_weights(SSDLITE, "COCO_V2")
    assert "'COCO_V2'" in str(e.value)
    with pytest.raises(WeightsError, match="weights of another architecture: ssdlite320_mobilenet_v3_large takes"):
        check_weights(SSDLITE, "FasterRCNN_ResNet50_FPN_Weights.COCO_V1")
    with pytest.raises(WeightsError, match="seg_lite has no torchvision weights"):
        check_weights("seg_lite", "DEFAULT")


# -------------------------------------------------------------------- files


def test_state_dict_file_loads_every_tensor(tmp_path):
    src = _lite(seed=1)
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    model = build_model("det_lite", K, image_size=320, weights=path)
    r = model.studio_weights
    assert (len(r.loaded), r.skipped_shape, r.missing, r.unexpected) == (r.total, [], [], [])
    for k, v in src.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert model.backbone.body["0"][1].__class__ is nn.BatchNorm2d  # no fine-tuning freeze for lite models


@pytest.mark.parametrize("wrap", ["module", "state_dict"])
def test_wrapped_state_dicts_load(tmp_path, wrap):
    src = _lite(seed=1)
    sd = src.state_dict()
    obj = {f"module.{k}": v for k, v in sd.items()} if wrap == "module" else {"state_dict": sd, "epoch": 3}
    torch.save(obj, tmp_path / "w.pt")
    report = load_weights(_lite(), tmp_path / "w.pt")
    assert len(report.loaded) == report.total
    assert ("module" in report.summary()) == (wrap == "module")


def test_studio_checkpoint_with_other_classes_fine_tunes_from_its_ema(tmp_path):
    src = _lite("seg_lite", classes=5, seed=1)
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in src.state_dict().items()}
    path = tmp_path / "run" / "best.pt"
    path.parent.mkdir()
    torch.save(_studio_checkpoint(src, ["a", "b", "c", "d", "e"], ema=ema), path)

    src_info = check_weights("seg_lite", tmp_path / "run")  # a run folder means its best.pt
    assert (src_info.kind, src_info.path, src_info.arch, src_info.epoch) == ("file", path, "seg_lite", 7)
    assert src_info.classes == ("a", "b", "c", "d", "e")
    assert "Studio checkpoint" in str(src_info) and "seg_lite" in str(src_info) and "5 classes" in str(src_info)

    lines: list[str] = []
    model = build_model("seg_lite", K, image_size=320, weights=str(path), log=lines.append)
    r = model.studio_weights
    heads = {
        "roi_heads.box_predictor.cls_score",
        "roi_heads.box_predictor.bbox_pred",
        "roi_heads.mask_predictor.mask_fcn_logits",
    }
    assert {n.rsplit(".", 1)[0] for n, _, _ in r.skipped_shape} == heads
    assert dict((n, (a, b)) for n, a, b in r.skipped_shape)["roi_heads.box_predictor.cls_score.weight"] == (
        (6, 256),
        (4, 256),
    )
    assert len(r.loaded) == r.total - 6 and r.missing == [] and r.unexpected == []
    k = "backbone.fpn.layer_blocks.0.0.weight"
    assert torch.equal(model.state_dict()[k], ema[k])  # the EMA weights, not "model"
    assert any("roi_heads.box_predictor.cls_score.weight: [6, 256] -> [4, 256]" in line for line in lines)


def test_studio_checkpoint_without_ema_uses_model(tmp_path):
    src = _lite(seed=2)
    torch.save(_studio_checkpoint(src, ["a", "b", "c"]), tmp_path / "last.pt")
    report = load_weights(_lite(), tmp_path / "last.pt")
    assert len(report.loaded) == report.total


def test_a_detector_checkpoint_starts_a_segmenter(tmp_path):
    """det_lite -> seg_lite: backbone, RPN and box head load; the mask branch starts from scratch."""
    torch.save(_studio_checkpoint(_lite(seed=3), ["a", "b", "c"]), tmp_path / "det.pt")
    lines: list[str] = []
    report = load_weights(_lite("seg_lite"), tmp_path / "det.pt", log=lines.append)
    assert report.missing and all(k.startswith("roi_heads.mask_") for k in report.missing)
    assert "trained as det_lite" in lines[0]


def test_imagenet_backbone_weights_load_into_the_lite_backbone(tmp_path):
    torch.manual_seed(4)
    sd = mobilenet_v3_large(weights=None).state_dict()  # the layout of torchvision's ImageNet file
    torch.save(sd, tmp_path / "mobilenet_v3_large-imagenet.pth")
    model = _lite("seg_lite")
    report = load_weights(model, tmp_path / "mobilenet_v3_large-imagenet.pth")
    assert "MobileNet" in report.key_mapping and report.skipped_shape == []
    assert all(k.startswith("backbone.body.") for k in report.loaded)
    assert {k.split(".")[0] for k in report.unexpected} == {"classifier"}
    assert torch.equal(model.backbone.body["16"][0].weight, sd["features.16.0.weight"])


# ---------------------------------------------------------------- bad files


def _write_bad(kind: str, path: Path) -> str:
    """Write a broken file of ``kind``; returns a phrase the error must contain."""
    if kind == "empty":
        path.write_bytes(b"")
        return "is empty"
    if kind == "truncated":
        buf = io.BytesIO()
        torch.save(nn.Linear(4, 2).state_dict(), buf)
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
        return "is truncated"
    if kind == "text":
        path.write_text("this is not a checkpoint\n")
        return "not a readable PyTorch checkpoint"
    if kind == "pickled_model":
        torch.save(nn.Linear(4, 2), path)
        return "save model.state_dict() instead"
    if kind == "list":
        torch.save([torch.zeros(2)], path)
        return "holds a list"
    if kind == "no_tensors":
        torch.save({"epoch": 3, "lr": 0.1}, path)
        return "no weights found"
    if kind == "newer_studio":
        torch.save({"format": "studio-checkpoint", "version": 99, "model": {}}, path)
        return "newer Studio"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "truncated", "text", "pickled_model", "list", "no_tensors", "newer_studio"])
def test_bad_files_are_refused_naming_the_file_and_the_fault(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    phrase = _write_bad(kind, path)
    with pytest.raises(WeightsError) as e:
        check_weights("det_lite", path)  # the pre-flight already refuses it
    assert str(path) in str(e.value) and phrase in str(e.value)
    with pytest.raises(WeightsError, match=re.escape(phrase)):
        load_weights(_lite(), WeightsSource("file", str(path), path))


def test_missing_files_and_empty_run_folders(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found") as e:
        check_weights("det_lite", tmp_path / "runs" / "best.pt")
    assert str(tmp_path / "runs" / "best.pt") in str(e.value)
    with pytest.raises(WeightsError, match="not found"):
        check_weights("det_lite", "missing.pth")
    (tmp_path / "run").mkdir()
    with pytest.raises(WeightsError, match="no best.pt or last.pt"):
        check_weights("det_lite", tmp_path / "run")


def test_weights_of_another_architecture_are_refused_and_leave_the_model_alone(tmp_path, coco_ssdlite):
    torch.save(coco_ssdlite, tmp_path / "ssdlite.pth")
    model = _lite()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as e:
        load_weights(model, tmp_path / "ssdlite.pth")
    msg = str(e.value)
    assert str(tmp_path / "ssdlite.pth") in msg and "det_lite" in msg and "another architecture" in msg
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())

    ckpt = {
        "format": "studio-checkpoint",
        "version": 1,
        "arch": SSDLITE,
        "classes": ClassMap.from_names(["a"]).to_dict(),
        "config": {},
        "model": coco_ssdlite,
    }
    torch.save(ckpt, tmp_path / "ssd_run.pt")
    with pytest.raises(WeightsError, match=f"a {SSDLITE} checkpoint"):
        build_model("seg_lite", K, image_size=320, weights=tmp_path / "ssd_run.pt")
