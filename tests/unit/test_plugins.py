"""The plugin system: manifests, discovery in folders / the environment / entry points, lazy loading,
broken plugins reported (never raised), name clashes, and each kind joining its table."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from studio.core import plugins
from studio.core.errors import StudioError
from studio.core.plugins import ManifestError, parse_manifest, read_manifest

FORMAT_MODULE = '''
"""A tiny dataset format: one image name per line of a .lst file, no objects."""
from studio.core.dataset.model import Dataset
from studio.core.formats.common import ImportResult

NAME = "{name}"
DESCRIPTION = "image lists"

def detect(src):
    return src.suffix == ".lst"

def read(src, images, options):
    ds = Dataset()
    for line in src.read_text().split():
        ds.add_image(line, 10, 10)
    return ImportResult(ds, images or src.parent)
'''


def make_plugin(root: Path, folder: str, manifest: str, files: dict[str, str] | None = None) -> Path:
    d = root / folder
    d.mkdir(parents=True)
    (d / "studio-plugin.toml").write_text(textwrap.dedent(manifest))
    (d / "__init__.py").write_text("")
    for name, text in (files or {}).items():
        (d / name).write_text(textwrap.dedent(text))
    return d


@pytest.fixture
def place(tmp_path):
    root = tmp_path / "plugins"
    root.mkdir()
    yield root
    plugins.reset()


def configure(*paths, **kw):
    return plugins.configure(
        list(paths), repo=False, user=False, entry_points=kw.pop("entry_points", False), env_paths=False, **kw
    )


# ------------------------------------------------------------------------------------ manifests
def test_manifest_declares_contributions_and_checks_their_keys():
    m = parse_manifest(
        {
            "name": "demo",
            "version": "0.1",
            "description": "d",
            "dataset_formats": [{"name": "lst", "object": ".fmt"}],
            "cam_methods": [{"name": "mycam", "object": "pkg.cams:fn", "gradient": False, "title": "My CAM"}],
            "panels": [{"name": "p", "object": ".panel:make", "area": "bottom"}],
        }
    )
    assert (m.name, m.version) == ("demo", "0.1")
    kinds = [(d.kind, d.name, d.ref) for d in m.contributions]
    assert kinds == [
        ("dataset_formats", "lst", ".fmt"),
        ("cam_methods", "mycam", "pkg.cams:fn"),
        ("panels", "p", ".panel:make"),
    ]
    assert m.contributions[1].options == {"gradient": False} and m.contributions[1].title == "My CAM"


@pytest.mark.parametrize(
    "data,item,words",
    [
        ({"version": "1", "archs": [{"name": "a", "object": "m:o"}]}, "name", "missing key 'name'"),
        ({"name": "x", "archs": [{"name": "a", "object": "m:o"}]}, "version", "missing key 'version'"),
        ({"name": "x", "version": "1", "dataset_format": []}, "dataset_format", "did you mean 'dataset_formats'"),
        ({"name": "x", "version": "1"}, None, "declares no contribution"),
        (
            {"name": "x", "version": "1", "archs": [{"name": "a", "object": "not a ref"}]},
            "archs[0].object",
            "not 'module:object'",
        ),
        ({"name": "x", "version": "1", "archs": [{"name": "a"}]}, "archs[0].object", "missing key 'object'"),
        (
            {"name": "x", "version": "1", "archs": [{"name": "a", "object": "m:o"}, {"name": "a", "object": "m:p"}]},
            "archs[1]",
            "declared twice",
        ),
        (
            {"name": "x", "version": "1", "archs": [{"name": "a", "object": "m:o", "gradient": True}]},
            "archs[0].gradient",
            "unknown key",
        ),
        (
            {"name": "x", "version": "1", "cam_methods": [{"name": "a", "object": "m:o", "gradient": "yes"}]},
            "cam_methods[0].gradient",
            "true or false",
        ),
        (
            {"name": "x", "version": "1", "panels": [{"name": "a", "object": "m:o", "area": "top"}]},
            "panels[0].area",
            "right, left, bottom",
        ),
        ({"name": "x y", "version": "1", "archs": [{"name": "a", "object": "m:o"}]}, "name", "plugin name"),
        ({"name": "x", "version": "1", "archs": {"name": "a"}}, "archs", "array of tables"),
    ],
)
def test_manifest_errors_name_the_file_and_the_key(data, item, words):
    with pytest.raises(ManifestError) as e:
        parse_manifest(data, source="here/studio-plugin.toml")
    assert e.value.file == "here/studio-plugin.toml" and e.value.item == item
    assert words in str(e.value)


def test_broken_toml_names_the_line(tmp_path):
    p = tmp_path / "studio-plugin.toml"
    p.write_text('name = "x"\nversion = 1.0.0\n')
    with pytest.raises(ManifestError, match=r"broken TOML .*line 2") as e:
        read_manifest(p)
    assert e.value.file == str(p)


# ------------------------------------------------------------------------------------ discovery and laziness
def test_discovery_reads_manifests_and_imports_nothing_until_the_table_is_built(place, tmp_path):
    make_plugin(
        place,
        "lazy_lst",
        """
        name = "lst"
        version = "1.0"
        description = "image lists"
        [[dataset_formats]]
        name = "lst"
        object = ".fmt"
    """,
        {"fmt.py": FORMAT_MODULE.format(name="lst")},
    )
    from studio.core.formats import formats, import_dataset

    formats.cache_clear()
    reg = configure(place)
    [p] = reg.plugins
    assert (p.name, p.version, p.status, p.source) == ("lst", "1.0", "ready", "configured")
    assert "lazy_lst.fmt" not in sys.modules  # discovery imported nothing
    assert reg.declared_names("dataset_formats") == ["lst"]
    assert "lst" in formats()  # the table is built: now it is imported
    assert "lazy_lst.fmt" in sys.modules and p.status == "loaded"
    (tmp_path / "a.lst").write_text("a.jpg b.jpg")
    assert [im["file_name"] for im in import_dataset("lst", tmp_path / "a.lst").dataset.images] == ["a.jpg", "b.jpg"]
    plugins.reset()  # the table and the module are taken back
    assert "lst" not in formats() and "lazy_lst.fmt" not in sys.modules


def test_a_place_can_be_the_plugin_folder_itself_and_the_environment_names_places(place, monkeypatch):
    d = make_plugin(
        place,
        "env_lst",
        """
        name = "envlst"
        version = "2"
        [[dataset_formats]]
        name = "envlst"
        object = "env_lst.fmt"
    """,
        {"fmt.py": FORMAT_MODULE.format(name="envlst")},
    )
    assert [p.name for p in configure(d).plugins] == ["envlst"]
    plugins.reset()
    monkeypatch.setenv("STUDIO_PLUGINS", "1")
    monkeypatch.setenv("STUDIO_PLUGIN_PATH", str(place))
    reg = plugins.registry()
    assert [(p.name, p.source) for p in reg.plugins if p.source == "STUDIO_PLUGIN_PATH"] == [
        ("envlst", "STUDIO_PLUGIN_PATH")
    ]
    assert str(place) in reg.describe_places()
    plugins.reset()
    monkeypatch.setenv("STUDIO_PLUGINS", "0")
    reg = plugins.registry()
    assert reg.plugins == [] and "STUDIO_PLUGINS=0" in plugins.format_text(reg)


def test_the_user_folder_is_searched_unless_turned_off(monkeypatch, tmp_path):
    from studio.core.plugins import discovery as registry_mod

    monkeypatch.setattr(registry_mod, "user_folder", lambda: tmp_path / "user")
    make_plugin(
        tmp_path / "user",
        "user_lst",
        """
        name = "userlst"
        version = "1"
        [[dataset_formats]]
        name = "userlst"
        object = ".fmt"
    """,
        {"fmt.py": FORMAT_MODULE.format(name="userlst")},
    )
    monkeypatch.setenv("STUDIO_PLUGINS", "1")
    monkeypatch.setenv("STUDIO_USER_PLUGINS", "1")
    plugins.reset()
    try:
        assert "userlst" in [p.name for p in plugins.registry().plugins]
        plugins.reset()
        monkeypatch.setenv("STUDIO_USER_PLUGINS", "0")
        assert "userlst" not in [p.name for p in plugins.registry().plugins]
    finally:
        plugins.reset()


def test_entry_point_plugins_are_found(tmp_path, monkeypatch):
    site = tmp_path / "site"
    pkg = site / "ep_plugin_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent("""
        STUDIO_PLUGIN = {
            "name": "from-entry-point", "version": "3.1", "description": "installed with pip",
            "dataset_formats": [{"name": "eplst", "object": ".fmt"}],
        }
    """)
    )
    (pkg / "fmt.py").write_text(FORMAT_MODULE.format(name="eplst"))
    info = site / "ep_plugin_pkg-3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin-pkg\nVersion: 3.1\n")
    (info / "entry_points.txt").write_text("[studio.plugins]\nlists = ep_plugin_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    try:
        reg = plugins.configure([], repo=False, user=False, entry_points=True, env_paths=False)
        [p] = [p for p in reg.plugins if p.source == "entry point"]
        assert (p.name, p.version, p.status) == ("from-entry-point", "3.1", "ready")
        assert "entry point lists = ep_plugin_pkg" in p.location
        from studio.core.formats import formats

        assert formats()["eplst"].module.__name__ == "ep_plugin_pkg.fmt"
    finally:
        plugins.reset()
        for m in [m for m in sys.modules if m.startswith("ep_plugin_pkg")]:
            del sys.modules[m]


# ------------------------------------------------------------------------------------ broken plugins
def test_broken_plugins_are_recorded_with_file_and_contribution_and_never_raise(place):
    make_plugin(place, "bad_toml", 'name = "bad-toml"\nversion = 1.0.0\n')
    make_plugin(
        place,
        "bad_import",
        """
        name = "bad-import"
        version = "1"
        [[dataset_formats]]
        name = "boom"
        object = ".fmt"
    """,
        {"fmt.py": "import not_a_module_anywhere\n"},
    )
    make_plugin(
        place,
        "bad_attr",
        """
        name = "bad-attr"
        version = "1"
        [[archs]]
        name = "ghost"
        object = ".arch:SPEC"
    """,
        {"arch.py": "OTHER = 1\n"},
    )
    make_plugin(
        place,
        "bad_type",
        """
        name = "bad-type"
        version = "1"
        [[archs]]
        name = "notspec"
        object = ".arch:SPEC"
    """,
        {"arch.py": "SPEC = 'a string'\n"},
    )
    make_plugin(
        place,
        "clash_voc",
        """
        name = "clash-voc"
        version = "1"
        [[dataset_formats]]
        name = "voc"
        object = ".fmt"
    """,
        {"fmt.py": FORMAT_MODULE.format(name="voc")},
    )
    (place / "no_manifest").mkdir()
    (place / "no_manifest" / "plugin.toml").write_text("")
    (place / "not-a-package").mkdir()
    (place / "not-a-package" / "studio-plugin.toml").write_text(
        'name = "dash"\nversion = "1"\n[[panels]]\nname = "p"\nobject = ".x:y"\n'
    )
    from studio.core.formats import formats
    from studio.core.models import get_arch, list_archs
    from studio.core.plugin_check import load_everything

    formats.cache_clear()
    reg = configure(place)
    by = {p.location.split("/")[-2] if p.location.endswith(".toml") else Path(p.location).name: p for p in reg.plugins}
    assert by["bad_toml"].status == "broken" and "broken TOML" in by["bad_toml"].error
    assert str(place / "bad_toml" / "studio-plugin.toml") in by["bad_toml"].error
    assert "no studio-plugin.toml" in by["no_manifest"].error and "found plugin.toml" in by["no_manifest"].error
    assert "not a Python package name" in by["not-a-package"].error
    # the app's tables still build, with the built-ins, and record what failed
    table = formats()
    assert {"via", "coco", "voc"} <= set(table) and table["voc"].module.__name__ == "studio.core.formats.voc"
    assert "seg_lite" in [s.name for s in list_archs()]
    load_everything()
    boom = by["bad_import"].contributions[0]
    assert (
        boom.state == "failed"
        and "cannot import module 'bad_import.fmt'" in boom.error
        and "not_a_module_anywhere" in boom.error
    )
    assert "plugin bad-import" in boom.describe_error() and "dataset format 'boom'" in boom.describe_error()
    assert str(place / "bad_import" / "studio-plugin.toml") in boom.describe_error()
    assert "has no attribute 'SPEC'" in by["bad_attr"].contributions[0].error
    assert "expected an ArchSpec" in by["bad_type"].contributions[0].error
    assert "taken by a built-in dataset format" in by["clash_voc"].contributions[0].error
    assert {p.status for p in reg.plugins} == {"broken", "errors"}
    errors = reg.errors()
    assert len(errors) == 7 and all(isinstance(e, str) for e in errors)
    with pytest.raises(StudioError, match="unknown architecture 'ghost'"):
        get_arch("ghost")
    text = plugins.format_text(reg)
    assert "BROKEN" in text and "FAILED" in text and "cannot import module" in text


def test_two_plugins_with_one_name_or_one_contribution_name(place):
    for folder in ("first_one", "second_one"):
        make_plugin(
            place,
            folder,
            """
            name = "same"
            version = "1"
            [[dataset_formats]]
            name = "samefmt"
            object = ".fmt"
        """,
            {"fmt.py": FORMAT_MODULE.format(name="samefmt")},
        )
    make_plugin(
        place,
        "third_one",
        """
        name = "third"
        version = "1"
        [[dataset_formats]]
        name = "samefmt"
        object = ".fmt"
    """,
        {"fmt.py": FORMAT_MODULE.format(name="samefmt")},
    )
    reg = configure(place)
    first, second, third = reg.plugins
    assert first.status == "ready" and second.status == "broken" and "already loaded from" in second.error
    assert third.contributions[0].state == "failed" and "already taken by plugin same" in third.contributions[0].error


def test_a_package_name_taken_by_an_installed_module_is_refused(place):
    make_plugin(
        place,
        "json",
        """
        name = "shadow"
        version = "1"
        [[dataset_formats]]
        name = "shadow"
        object = ".fmt"
    """,
    )
    [p] = configure(place).plugins
    assert p.status == "broken" and "already taken by" in p.error and "rename the plugin folder" in p.error


# ------------------------------------------------------------------------------------ the owners' API
def test_owners_declare_their_kinds_and_install_through_their_own_add(place, monkeypatch):
    from studio.core.plugins import PluginError, check_callable, discovery, register_kind

    with pytest.raises(ValueError, match="unknown contribution kind 'widgets'"):
        register_kind("widgets", validate=check_callable)
    make_plugin(
        place,
        "two_augs",
        """
        name = "augs"
        version = "1"
        [[augmentations]]
        name = "first"
        object = ".a:first"
        [[augmentations]]
        name = "second"
        object = ".a:second"
    """,
        {"a.py": "def first():\n    return 1\n\ndef second():\n    return 2\n"},
    )
    reg = configure(place)
    with monkeypatch.context() as m:  # a kind whose owner was never imported cannot be loaded
        m.setattr(discovery, "_owners", {})
        with pytest.raises(LookupError, match="'augmentations' kind"):
            reg.load("augmentations")
    assert {c.state for c in reg.contributions("augmentations")} == {"declared"}
    import studio.core.data.augmentations  # noqa: F401  (the owner of the kind: registers it)

    table = {}

    def add(fn):  # an owner's table: "second" is taken
        if fn() == 2:
            raise PluginError("the name 'second' is taken by a built-in augmentation: rename it")
        table[fn.__name__] = fn

    installed = reg.install("augmentations", add, once=True)
    assert [c.name for c in installed] == ["first"] and list(table) == ["first"]
    second = reg.find("augmentations", "second")
    assert second.state == "failed" and "taken by a built-in augmentation" in second.error
    assert reg.install("augmentations", add, once=True) == installed and list(table) == ["first"]  # once


# ------------------------------------------------------------------------------------ model architectures
ARCH_MODULE = """
from dataclasses import replace
from studio.core.models.lite import lite_specs

SPEC = replace(lite_specs()[1], name="{name}", description="a plugin detector")
"""


def test_plugin_architectures_join_the_zoo_and_leave_with_the_plugins(place):
    make_plugin(
        place,
        "tiny_arch",
        """
        name = "tiny"
        version = "1"
        [[archs]]
        name = "tiny_det"
        object = ".arch:SPEC"
        [[archs]]
        name = "seg_lite"
        object = ".clash:SPEC"
    """,
        {"arch.py": ARCH_MODULE.format(name="tiny_det"), "clash.py": ARCH_MODULE.format(name="seg_lite")},
    )
    from studio.core.config.form import arch_choices
    from studio.core.models import ModelError, build_model, get_arch, list_archs
    from studio.core.models.zoo import arch_plugin

    reg = configure(place)
    assert "tiny_arch.arch" not in sys.modules
    assert get_arch("seg_lite").description.startswith("Light Mask R-CNN")  # a built-in lookup imports no plugin
    assert "tiny_arch.arch" not in sys.modules
    assert get_arch("tiny_det").description == "a plugin detector"
    assert "tiny_det" in [c.value for c in arch_choices()]  # the config editor's model list
    assert arch_plugin("tiny_det") == "tiny" and arch_plugin("seg_lite") is None
    clash = reg.find("archs", "seg_lite")
    assert clash.state == "failed" and "already registered" in clash.error
    assert get_arch("seg_lite").description.startswith("Light Mask R-CNN")  # the built-in stays
    assert build_model("tiny_det", 2, image_size=64).studio_arch == "tiny_det"
    plugins.reset()
    assert "tiny_det" not in [s.name for s in list_archs()]
    with pytest.raises(ModelError):
        get_arch("tiny_det")


# ------------------------------------------------------------------------ CAM methods, export formats, panels
def test_cam_methods_are_listed_from_manifests_and_a_builtin_name_is_refused(place):
    make_plugin(
        place,
        "my_cams",
        """
        name = "cams"
        version = "1"
        [[cam_methods]]
        name = "flat"
        title = "Flat CAM"
        object = ".m:flat"
        gradient = false
        [[cam_methods]]
        name = "gradcam"
        object = ".m:flat"
    """,
        {"m.py": "import torch\ndef flat(act):\n    return torch.ones(act.shape[1:])\n"},
    )
    from studio.core.explain.cam import METHODS, cam_method, cam_method_title, methods

    reg = configure(place)
    assert methods() == METHODS + ("flat",)
    assert "my_cams.m" not in sys.modules
    m = cam_method("flat")
    assert (m.gradient, m.title, cam_method_title("flat")) == (False, "Flat CAM", "Flat CAM")
    assert "taken by a built-in CAM method" in reg.find("cam_methods", "gradcam").error
    with pytest.raises(
        StudioError, match="unknown CAM method 'nope': use one of gradcam, gradcam\\+\\+, eigencam, flat"
    ):
        cam_method("nope")


def test_cam_method_from_a_plugin_explains_a_model(repo_plugins):
    import torch

    from studio.core.data.classes import ClassMap
    from studio.core.explain.cam import explain
    from studio.core.explain.jobs import model_input
    from studio.core.inference.predictor import Predictor
    from studio.core.models import build_model

    torch.manual_seed(0)
    model = build_model("det_lite", 2, image_size=96)
    pred = Predictor(
        model,
        ClassMap.from_names(["a", "b"]),
        size=96,
        letterbox=False,
        device=torch.device("cpu"),
        task="detect",
        score_thr=0.0,
        max_detections=5,
    )
    x, meta = model_input(pred, (torch.rand(80, 96, 3) * 255).to(torch.uint8).numpy())
    for method in ("xgradcam", "layercam"):
        res = explain(pred.model, x, meta, method=method, layers=["neck"], max_boxes=2)
        assert res.method == method and len(res.targets) == 2
        assert res.combined.shape == (80, 96) and float(res.combined.max()) <= 1.0
        assert all(t.map.min() >= 0 for t in res.targets)


def test_export_formats_from_plugins_join_the_table(place):
    make_plugin(
        place,
        "my_export",
        """
        name = "exp"
        version = "1"
        [[export_formats]]
        name = "bundle"
        object = ".fmt:FORMAT"
        [[export_formats]]
        name = "onnx"
        object = ".fmt:CLASH"
        [[export_formats]]
        name = "nofn"
        object = ".fmt:NOFN"
    """,
        {
            "fmt.py": """
        from studio.core.export.formats import ExportFormat, OptionSpec
        FORMAT = ExportFormat("bundle", "Bundle", ".zip", "cpu", "a zip",
                              (OptionSpec("level", "int", 5, "zip level", minimum=0, maximum=9),),
                              exporter=".exporter:export")
        CLASH = ExportFormat("onnx", "Mine", ".onnx", "cpu", "mine", exporter=".exporter:export")
        NOFN = ExportFormat("nofn", "No function", ".x", "cpu", "none")
    """
        },
    )
    from studio.core.export.formats import FORMATS, get_format, validate_options

    reg = configure(place)
    assert list(FORMATS) == ["onnx", "onnx-e2e", "engine", "openvino", "bundle"]
    assert get_format("onnx").title == "ONNX"  # the built-in stays
    assert validate_options("bundle", {"level": "7"})["level"] == 7
    with pytest.raises(StudioError, match="at most 9"):
        validate_options("bundle", {"level": 10})
    assert "taken by a built-in export format" in reg.find("export_formats", "onnx").error
    assert "has no exporter" in reg.find("export_formats", "nofn").error
    plugins.reset()
    assert list(FORMATS) == ["onnx", "onnx-e2e", "engine", "openvino"]


def test_panel_contributions_must_be_callable(place):
    make_plugin(
        place,
        "my_panel",
        """
        name = "pan"
        version = "1"
        [[panels]]
        name = "good"
        object = ".p:make"
        [[panels]]
        name = "bad"
        object = ".p:NOT_CALLABLE"
    """,
        {"p.py": "def make(ctx):\n    return None\nNOT_CALLABLE = 3\n"},
    )
    from studio.core.plugin_check import panel_contributions

    reg = configure(place)
    assert [c.name for c in panel_contributions()] == ["good"]
    assert "expected a function or class" in reg.find("panels", "bad").error


# ------------------------------------------------------------------------------------ augmentations
def test_augmentations_from_plugins_run_in_the_train_pipeline(repo_plugins, demo):
    import numpy as np

    from studio.core.config.schema import AugmentConfig
    from studio.core.data.augmentations import augmentation_names
    from studio.core.data.transforms import NO_AUGMENT, Sample, build_train_transforms

    assert augmentation_names() == ["grayscale", "cutout"]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    sample = Sample(image, np.array([[5, 5, 40, 40]]), np.array([1]), None, 1)
    gray = NO_AUGMENT.model_copy(
        update={"extra": AugmentConfig.model_validate({"extra": [{"name": "grayscale", "p": 1}]}).extra}
    )
    out, target = build_train_transforms(gray, 80, letterbox=True)(*sample.to_tv())
    assert out.shape == (3, 80, 80) and float((out[0] - out[1]).abs().max()) == 0.0  # grey: equal channels
    assert target["boxes"].shape == (1, 4)
    flat = Sample(np.full((64, 80, 3), 100, np.uint8), np.array([[5, 5, 40, 40]]), np.array([1]), None, 1)
    cut = AugmentConfig.model_validate(
        {
            "hflip": 0,
            "photometric": 0,
            "scale_jitter": [1, 1],
            "extra": [{"name": "cutout", "p": 1, "params": {"holes": 1, "size": 0.5, "fill": 255}}],
        }
    )
    out, target = build_train_transforms(cut, 80, letterbox=True)(*flat.to_tv())
    holed = int((out[0] == 1.0).sum())
    assert 16 * 16 <= holed <= 32 * 32 and target["boxes"].shape == (1, 4)  # a 32 px hole, at least a quarter inside


def test_unknown_or_misconfigured_augmentations_are_clear_errors(repo_plugins, demo, tmp_path):
    from studio.core.config.init import init_config
    from studio.core.config.schema import AugmentConfig
    from studio.core.data.transforms import build_train_transforms
    from studio.core.training.preflight import preflight

    bad = AugmentConfig.model_validate({"extra": [{"name": "grayscal"}]})
    with pytest.raises(
        StudioError, match=r"data.augment.extra\[0\].name: unknown augmentation 'grayscal': known: grayscale, cutout"
    ):
        build_train_transforms(bad, 64, letterbox=False)
    cfg = init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="det_lite",
        overrides={
            "data": {
                "augment": {
                    "extra": [
                        {"name": "cutout", "params": {"holes": 0}},
                        {"name": "cutout", "params": {"radius": 3}},
                        {"name": "nope"},
                    ]
                }
            },
            "train": {"device": "cpu"},
        },
    )
    rep = preflight(cfg)
    errs = {f.item: f.message for f in rep.errors}
    assert "holes must be at least 1" in errs["data.augment.extra[0].params"]
    assert (
        "does not take these params" in errs["data.augment.extra[1].params"]
        and "radius" in errs["data.augment.extra[1].params"]
    )
    assert "unknown augmentation 'nope'" in errs["data.augment.extra[2].name"]
    with pytest.raises(Exception, match="less than or equal to 1"):
        AugmentConfig.model_validate({"extra": [{"name": "cutout", "p": 2}]})


# ------------------------------------------------------------------------------------ the repository's plugins
def test_the_repository_plugins_load_cleanly(repo_plugins):
    from studio.core.plugin_check import load_everything

    reg = load_everything()
    assert reg.errors() == []
    names = {p.name: p for p in reg.plugins}
    assert set(names) == {"cvat", "fcos-mobilenet", "augment-extras", "cam-extras", "torch-weights", "dataset-summary"}
    kinds = {c.kind for p in reg.plugins for c in p.contributions}
    assert kinds == set(plugins.KINDS)  # every contribution kind has an example
    assert all(p.status == "loaded" for p in reg.plugins)


def test_the_config_editor_types_extra_augmentations_as_yaml():
    from studio.core.config.form import field_specs, format_value, parse_text, validate_raw

    spec = field_specs(archs=[]).field("data.augment.extra")
    assert spec.kind == "yaml" and spec.default == [] and "Plugin augmentations" in spec.tooltip()
    value = [{"name": "cutout", "p": 0.5, "params": {"holes": 2}}]
    text = format_value(spec, value)
    assert text == "[{name: cutout, p: 0.5, params: {holes: 2}}]" and parse_text(spec, text) == value
    assert format_value(spec, []) == "" and parse_text(spec, "") == []
    raw = {
        "data": {"train": {"ann": "t.json"}, "augment": {"extra": parse_text(spec, "[{name: cutout, p: 2}]")}},
        "model": {"arch": "det_lite"},
    }
    cfg, errors = validate_raw(raw)
    assert (
        cfg is None
        and list(errors) == ["data.augment.extra"]
        and "less than or equal to 1" in errors["data.augment.extra"]
    )
    raw["data"]["augment"]["extra"] = parse_text(spec, "[{name: cutout")  # broken YAML: kept as text, refused
    assert list(validate_raw(raw)[1]) == ["data.augment.extra"]
    raw["data"]["augment"]["extra"] = value
    cfg, errors = validate_raw(raw)
    assert errors == {} and cfg.data.augment.extra[0].params == {"holes": 2}


def test_a_plugin_detect_that_raises_does_not_stop_detection(place, tmp_path, caplog):
    make_plugin(
        place,
        "buggy_detect",
        """
        name = "buggy"
        version = "1"
        [[dataset_formats]]
        name = "buggy"
        object = ".fmt"
    """,
        {
            "fmt.py": FORMAT_MODULE.format(name="buggy").replace(
                'return src.suffix == ".lst"', "raise ValueError('oops')"
            )
        },
    )
    from studio.core.formats import detect_format

    configure(place)
    (tmp_path / "x.unknown").write_text("?")
    assert detect_format(tmp_path / "x.unknown") is None
    assert "dataset format buggy: detect(" in caplog.text and "ValueError: oops" in caplog.text


def test_an_unreadable_plugins_folder_never_stops_discovery(tmp_path, monkeypatch, caplog):
    """A folder the user may not read (another user's HOME, a broken disk) is logged, not raised."""
    import errno
    import pathlib

    from studio.core.plugins import discovery

    denied = tmp_path / "denied"
    denied.mkdir()
    real_stat = pathlib.Path.stat

    def stat(self, *a, **k):
        if str(self).startswith(str(denied)):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_stat(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "stat", stat)
    with caplog.at_level("WARNING", logger="studio.plugins"):
        assert discovery._plugin_folders(denied) == []
    assert f"cannot read the plugins folder {denied}" in caplog.text and "permission denied" in caplog.text
