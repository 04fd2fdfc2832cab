"""Workspaces: one folder per project, holding its datasets, configs, runs and exports.

A workspace is a folder with a small ``studio-project.json`` (name, creation time, the dataset last
open) and four sub-folders. The app remembers recently opened workspaces in the per-user config
folder. The built-in demo workspace is generated offline on first start so a new user sees data at once.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from studio.core import atomic
from studio.core.environment import user_config_dir
from studio.core.errors import StudioError

PROJECT_FILE = "studio-project.json"
FOLDERS = ("datasets", "configs", "runs", "exports")
VERSION = 1
MAX_RECENT = 10


class WorkspaceError(StudioError):
    """A workspace folder or its project file cannot be used."""


@dataclass
class Workspace:
    root: Path
    name: str
    created: float = field(default_factory=time.time)
    last_dataset: str | None = None  # relative to root
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def project_file(self) -> Path:
        return self.root / PROJECT_FILE

    def folder(self, kind: str) -> Path:
        if kind not in FOLDERS:
            raise ValueError(f"unknown workspace folder {kind!r}; one of {FOLDERS}")
        return self.root / kind

    # ------------------------------------------------------------------ create / open / save
    @classmethod
    def create(cls, root: str | Path, name: str | None = None) -> Workspace:
        """Make ``root`` a workspace (the folder may exist; an existing workspace there is refused)."""
        root = Path(root).resolve()
        if (root / PROJECT_FILE).exists():
            raise WorkspaceError("already a workspace", file=root / PROJECT_FILE)
        if root.exists() and not root.is_dir():
            raise WorkspaceError("exists and is not a folder", file=root)
        for sub in FOLDERS:
            (root / sub).mkdir(parents=True, exist_ok=True)
        ws = cls(root, name or root.name)
        ws.save()
        return ws

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        root = Path(root).resolve()
        pf = root / PROJECT_FILE
        if not pf.is_file():
            raise WorkspaceError(f"not a Studio workspace (no {PROJECT_FILE})", file=root)
        try:
            data = orjson.loads(pf.read_bytes())
        except orjson.JSONDecodeError as e:
            raise WorkspaceError(f"broken JSON: {e}", file=pf) from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            raise WorkspaceError("not a workspace project file (no 'name')", file=pf)
        if int(data.get("version", 1)) > VERSION:
            raise WorkspaceError(f"written by a newer Studio (version {data.get('version')})", file=pf)
        for sub in FOLDERS:
            (root / sub).mkdir(exist_ok=True)
        known = {"name", "created", "last_dataset", "version"}
        return cls(
            root,
            data["name"],
            float(data.get("created", 0.0)),
            data.get("last_dataset"),
            {k: v for k, v in data.items() if k not in known},
        )

    def save(self) -> None:
        data = {
            "version": VERSION,
            "name": self.name,
            "created": self.created,
            "last_dataset": self.last_dataset,
            **self.extra,
        }
        atomic.write_json(self.project_file, data)

    # ------------------------------------------------------------------ contents
    def datasets(self) -> list[Path]:
        """COCO files under ``datasets/`` (recovery and report files left out)."""
        out = []
        for p in sorted(self.folder("datasets").rglob("*.json")):
            if p.name.startswith(".") or p.name.endswith((".recovery.json", "report.json", "stats.json")):
                continue
            out.append(p)
        return out

    def configs(self) -> list[Path]:
        return sorted(p for p in self.folder("configs").glob("*.y*ml") if p.suffix in (".yaml", ".yml"))

    def runs(self) -> list[Path]:
        """Run folders (an ``events.jsonl`` or a checkpoint inside), newest first."""
        found = [
            p
            for p in self.folder("runs").iterdir()
            if p.is_dir() and ((p / "events.jsonl").exists() or (p / "last.pt").exists())
        ]
        return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)

    def last_dataset_path(self) -> Path | None:
        if self.last_dataset:
            p = self.root / self.last_dataset
            if p.is_file():
                return p
        ds = self.datasets()
        return ds[0] if ds else None

    def set_last_dataset(self, path: str | Path) -> None:
        p = Path(path).resolve()
        try:
            self.last_dataset = os.path.relpath(p, self.root)
        except ValueError:
            self.last_dataset = str(p)
        self.save()


def is_workspace(path: str | Path) -> bool:
    return (Path(path) / PROJECT_FILE).is_file()


# ---------------------------------------------------------------------- recent workspaces
def _recent_file() -> Path:
    env = os.environ.get("STUDIO_CONFIG_DIR")
    if env:
        return Path(env) / "recent_workspaces.json"

    return user_config_dir() / "recent_workspaces.json"


def recent_workspaces() -> list[Path]:
    """Recently opened workspaces that still exist, newest first."""
    f = _recent_file()
    try:
        items = orjson.loads(f.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    return [Path(p) for p in items if isinstance(p, str) and is_workspace(p)]


def remember_workspace(root: str | Path) -> None:
    root = str(Path(root).resolve())
    items = [str(p) for p in recent_workspaces() if str(p) != root]
    atomic.write_json(_recent_file(), [root, *items][:MAX_RECENT])


# ---------------------------------------------------------------------- demo workspace
def default_demo_workspace() -> Path:
    from studio.core.demo import default_root  # deferred: numpy

    return default_root().parent / "demo-workspace"


def ensure_demo_workspace(root: str | Path | None = None) -> Workspace:
    """The built-in demo workspace (generated offline on first use): demo train/val sets and a config that
    trains for 3 minutes (the recipe ``config init`` derives for the demo with that budget)."""
    from studio.core.demo import DEMO_VERSION, generate  # deferred: numpy

    root = Path(root) if root is not None else default_demo_workspace()
    if is_workspace(root):
        ws = Workspace.open(root)
        if (
            ws.extra.get("demo_version") == DEMO_VERSION
            and (root / "datasets" / "demo" / "annotations" / "train.json").is_file()
        ):
            return ws
    else:
        ws = Workspace.create(root, "Demo")
    splits = generate(ws.folder("datasets") / "demo")
    cfg = ws.folder("configs") / "demo.yaml"
    if not cfg.exists():
        from studio.core.config.init import init_config  # deferred: numpy, pydantic

        init_config(
            splits["train"].annotations,
            cfg,
            val_ann=splits["val"].annotations,
            overrides={"train": {"device": "auto", "time_limit": 180.0}},  # a first training: 3 minutes
        )
    ws.extra["demo_version"] = DEMO_VERSION
    ws.set_last_dataset(splits["train"].annotations)
    return ws
