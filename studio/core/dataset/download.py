"""``studio dataset download``: fetch the public originals of the tutorial datasets.

Offline, it fails at once with what to fetch by hand and where to unpack it.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from studio.core.errors import StudioError
from studio.core.jobs import CancelToken, Progress, no_progress


@dataclass(frozen=True)
class PublicDataset:
    name: str
    url: str
    description: str
    layout: str  # what the user finds after unpacking


PUBLIC = {
    "balloon": PublicDataset(
        "balloon",
        "https://github.com/matterport/Mask_RCNN/releases/download/v2.1/balloon_dataset.zip",
        "Mask R-CNN balloon sample: 61 train / 13 val images, VIA 1.x polygons",
        "balloon/train/via_region_data.json, balloon/val/via_region_data.json",
    ),
    "cat": PublicDataset(
        "cat",
        "https://download.openmmlab.com/mmyolo/data/cat_dataset.zip",
        "MMYOLO tutorial cat set: 144 images, COCO boxes",
        "cat/annotations/{trainval,test}.json, cat/images/",
    ),
}


def download(
    name: str,
    dest: str | Path,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    timeout: float = 20.0,
) -> Path:
    """Download and unpack ``name`` into ``dest``; returns the folder holding the data."""
    if name not in PUBLIC:
        raise StudioError(f"unknown dataset '{name}' (known: {', '.join(PUBLIC)})")
    ds = PUBLIC[name]
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manual = f"Download {ds.url} by hand and unzip it into {dest.resolve()} (you should then have {ds.layout})."
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        zpath = Path(tmp) / f"{name}.zip"
        try:
            with urllib.request.urlopen(ds.url, timeout=timeout) as r, open(zpath, "wb") as f:
                total = int(r.headers.get("Content-Length") or 0)
                done = 0
                while chunk := r.read(1 << 20):
                    if cancel is not None:
                        cancel.raise_if_cancelled()
                    f.write(chunk)
                    done += len(chunk)
                    progress(done, total, f"downloading {name}")
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise StudioError(f"cannot download the {name} dataset ({reason}). {manual}", file=ds.url) from None
        try:
            with zipfile.ZipFile(zpath) as z:
                bad = [n for n in z.namelist() if n.startswith("/") or ".." in Path(n).parts]
                if bad:
                    raise StudioError(f"refusing unsafe paths in the archive: {bad[:3]}", file=ds.url)
                z.extractall(Path(tmp) / "unpacked")
        except zipfile.BadZipFile:
            raise StudioError(f"the download is not a valid zip (truncated?). {manual}", file=ds.url) from None
        for item in (Path(tmp) / "unpacked").iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(str(item), target)
    return dest
