import pytest

from studio.cli import main


def test_doctor_lists_everything_and_exits_zero(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    keys = ("python", "torch", "torchvision", "onnxruntime", "tensorrt", "openvino", "PySide6", "weights", "plugins")
    for key in keys:
        assert f" {key} " in out, key
    assert "CPUExecutionProvider" in out
    assert "build" in out  # CUDA build or CPU-only build is stated
    # no GPU and no TensorRT here: the line says what is missing and how to get it
    trt = next(line for line in out.splitlines() if " tensorrt " in line)
    assert "pip install" in trt or "libraries" in trt or trt.split()[-1][0].isdigit()


def test_display_libraries_all_found_is_ok():
    from studio.core.doctor import display_check

    check = display_check(find=lambda lib: "/usr/lib/x86_64-linux-gnu", system="Linux")
    assert check.ok and "installed" in check.value


def test_missing_display_libraries_are_named_with_the_apt_get_command():
    from studio.core.doctor import display_check

    absent = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}
    asked = []

    def find(lib: str):
        asked.append(lib)
        return None if lib in absent else "/usr/lib"

    check = display_check(find=find, system="Linux", root=False, has_apt=True)
    assert not check.ok
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in check.value
    assert check.value.endswith("sudo apt-get install -y libxcb-cursor0 libxcb-icccm4")
    for lib in ("libxcb-cursor.so.0", "libxkbcommon-x11.so.0", "libEGL.so.1", "libdbus-1.so.3", "libxcb-xinerama.so.0"):
        assert lib in asked, lib
    as_root = display_check(find=find, system="Linux", root=True, has_apt=True)
    assert as_root.value.endswith("; apt-get install -y libxcb-cursor0 libxcb-icccm4")
    no_apt = display_check(find=find, system="Linux", root=False, has_apt=False)
    assert "install the packages that provide them (Debian / Ubuntu: sudo apt-get install -y libxcb-cursor0" in (
        no_apt.value
    )


def test_display_libraries_are_only_checked_on_linux():
    from studio.core.doctor import display_check

    def find(lib):
        raise AssertionError("nothing is looked up off Linux")

    assert display_check(find=find, system="Darwin") is None
    assert display_check(find=find, system="Windows") is None


def test_doctor_prints_the_display_line_on_linux(capsys, monkeypatch):
    import platform

    import studio.core.doctor as doctor
    import studio.core.environment as environment

    if platform.system() != "Linux":
        pytest.skip("the display libraries are a Linux check")
    monkeypatch.setattr(doctor, "missing_display_libraries", lambda *a: [("libxcb-cursor0", "libxcb-cursor.so.0")])
    assert main(["doctor"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if " display libs " in line)
    assert line.startswith("!!") and "libxcb-cursor.so.0" in line and "apt-get install -y libxcb-cursor0" in line
    assert environment.missing_display_libraries(lambda lib: "/lib") == []


def test_find_shared_library_looks_in_the_given_folders_and_ld_library_path(tmp_path, monkeypatch):
    import studio.core.environment as environment

    monkeypatch.setattr(environment, "_ldconfig_names", lambda: frozenset({"libcached.so.2"}))
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "libfoo.so.1").write_bytes(b"")
    (b / "libbar.so.3").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(b))
    assert environment.find_shared_library("libfoo.so.1", dirs=[str(a)]) == str(a)
    assert environment.find_shared_library("libbar.so.3", dirs=[str(a)]) == str(b)
    assert environment.find_shared_library("libcached.so.2", dirs=[str(a)]) == "ldconfig cache"
    assert environment.find_shared_library("libnone.so.9", dirs=[str(a)]) is None
    # the packages to install, once each, in the table's order
    missing = environment.missing_display_packages(lambda lib: None if "xcb-" in lib else "/lib")
    assert missing[0] == "libxcb-cursor0" and len(missing) == len(set(missing)) and "libgl1" not in missing
