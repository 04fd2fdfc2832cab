"""OS failures are one-line messages (exit 2, no traceback) and leave nothing half-written behind.

A read-only folder and a full disk are real: small tmpfs mounts (``small_disk`` in conftest; skipped with the
reason where mounting is not allowed). A process killed in the middle of a write leaves a temporary file or
folder of Studio's naming; the next write to the same target removes it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from studio.cli import main
from studio.core import atomic
from studio.core.dataset.model import Dataset
from studio.core.errors import error_message, os_error_message


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.err


def _error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def read_only_disk(small_disk):
    """A tmpfs with an empty ``exports/`` folder, remounted read-only."""
    d = small_disk("1m")
    (d / "exports").mkdir()
    r = subprocess.run(["mount", "-o", "remount,ro", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only here: {r.stderr.strip()}")
    return d


# ------------------------------------------------------------------------------------------- messages
@pytest.mark.parametrize(
    "code, words",
    [
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
        (errno.ENOSPC, "no space left"),
        (errno.ENOTDIR, "a file is in the way"),
        (errno.EISDIR, "is a folder where a file is expected"),
        (errno.EEXIST, "already exists"),
    ],
)
def test_each_os_error_names_the_path_and_what_to_do(code, words):
    msg = os_error_message(OSError(code, os.strerror(code), "/data/out/x.json"))
    assert msg.startswith("/data/out/x.json: ") and words in msg and ";" in msg and "\n" not in msg
    assert error_message(OSError(code, os.strerror(code), "/data/out/x.json")) == msg


def test_cli_maps_an_os_error_raised_anywhere_to_exit_2(capsys, monkeypatch, demo, tmp_path):
    from studio import api

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "stats.json"))

    monkeypatch.setattr(api, "dataset_stats", full)
    code, err = run(capsys, "dataset", "stats", demo["train"].annotations)
    assert (
        code == 2
        and _error_line(err)
        == f"error: {tmp_path / 'stats.json'}: no space left on the disk; free some "
        "space, or choose a folder on another disk"
    )


# ------------------------------------------------------------------------------------------- read-only
def test_read_only_folder(capsys, demo, read_only_disk):
    ann = demo["train"].annotations
    images = demo["train"].images
    for argv in (
        ["dataset", "export", "--format", "coco", ann, "--images", images, "-o", read_only_disk / "exports" / "coco"],
        ["dataset", "export", "--format", "yolo", ann, "--images", images, "-o", read_only_disk / "exports"],
        ["dataset", "split", ann, "--ratios", "0.5", "0.5", "-o", read_only_disk / "exports"],
        ["dataset", "import", "--format", "coco", ann, "-o", read_only_disk / "exports" / "x.json"],
        ["dataset", "stats", ann, "--out", read_only_disk / "exports" / "plots"],
    ):
        code, err = run(capsys, *argv)
        line = _error_line(err)
        assert code == 2 and "read-only" in line and str(read_only_disk) in line, (argv, err)
    assert os.listdir(read_only_disk / "exports") == []


# ------------------------------------------------------------------------------------------- full disk
def test_full_disk_export_leaves_nothing(capsys, demo, small_disk):
    disk = small_disk("64k")  # the demo images do not fit
    code, err = run(
        capsys,
        "dataset",
        "export",
        "--format",
        "coco",
        demo["train"].annotations,
        "--images",
        demo["train"].images,
        "-o",
        disk / "out",
    )
    line = _error_line(err)
    assert code == 2 and "no space left" in line and str(disk) in line
    assert os.listdir(disk) == []  # neither the output nor the temporary folder


def test_full_disk_import_keeps_the_previous_file(capsys, demo, small_disk, tmp_path):
    disk = small_disk("24k")
    small = Dataset.load(demo["val"].annotations).subset([Dataset.load(demo["val"].annotations).images[0]["id"]])
    small.save(disk / "out.json")
    before = (disk / "out.json").read_bytes()
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last block
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError:
        pass
    finally:
        os.close(fd)
    code, err = run(capsys, "dataset", "import", "--format", "coco", demo["train"].annotations, "-o", disk / "out.json")
    assert code == 2 and "no space left" in _error_line(err)
    assert (disk / "out.json").read_bytes() == before  # the old file is whole
    assert sorted(os.listdir(disk)) == ["filler", "out.json"]  # and no temporary file is left


# ------------------------------------------------------------------------------------------- kill -9
_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from studio.core import atomic
    target, kind = Path(sys.argv[1]), sys.argv[2]
    if kind == "file":
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half of a file")
            os.kill(os.getpid(), signal.SIGKILL)
    else:
        with atomic.atomic_dir(target) as tmp:
            (tmp / "model.onnx").write_bytes(b"half of a model")
            os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_a_killed_write_leaves_a_temporary_that_the_next_write_removes(tmp_path, kind):
    target = tmp_path / ("ann.json" if kind == "file" else "export")
    r = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(target), kind], cwd=Path(__file__).resolve().parents[2]
    )
    assert r.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and left[0].name.startswith(f".{target.name}.studio-"), left
    assert not target.exists()
    # an unrelated hidden .tmp of someone else, and a live process's temporary, are not touched
    other = tmp_path / f".{target.name}.mine.tmp"
    other.write_text("not Studio's")
    live = tmp_path / f".{target.name}.studio-{os.getpid()}-abcdefgh.tmp"
    live.write_text("being written right now")
    if kind == "file":
        atomic.write_json(target, {"ok": True})
    else:
        with atomic.atomic_dir(target) as tmp:
            (tmp / "model.onnx").write_bytes(b"a whole model")
    assert not left[0].exists() and other.exists() and live.exists()
    assert target.exists()


def test_a_killed_import_is_cleaned_by_the_next_import(capsys, demo, tmp_path):
    out = tmp_path / "train.json"
    stale = tmp_path / f".train.json.studio-{_dead_pid()}-k1ll3d00.tmp"
    stale.write_text('{"images": [')
    code, _ = run(capsys, "dataset", "import", "--format", "coco", demo["train"].annotations, "-o", out)
    assert code == 0 and not stale.exists() and Dataset.load(out).images


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# ------------------------------------------------------------------------------------------- permissions
def test_a_folder_without_write_permission(demo, tmp_path):
    """EACCES needs a user other than root (root writes anywhere): the command runs as 'nobody'."""
    import shutil

    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("switching to another user (to be denied a write) needs root and setpriv")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    tmp_path.chmod(0o755)
    ann = tmp_path / "ann.json"
    ann.write_bytes(demo["train"].annotations.read_bytes())
    ann.chmod(0o644)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "STUDIO_PLUGINS": "0",
        "STUDIO_USER_PLUGINS": "0",
        "STUDIO_CONFIG_DIR": str(tmp_path),
    }
    argv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        sys.executable,
        "-m",
        "studio",
        "dataset",
        "split",
        str(ann),
        "--ratios",
        "0.5",
        "0.5",
        "-o",
        str(locked / "split"),
    ]
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    if r.returncode != 2 and "studio" not in r.stderr:
        pytest.skip(f"python cannot run as another user here: {r.stderr.strip()[:200]}")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert (
        _error_line(r.stderr)
        == f"error: {locked / 'split'}: permission denied; check its permissions, or choose a folder you can write to"
    )
    assert os.listdir(locked) == []
