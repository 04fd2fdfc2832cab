from studio.cli import main


def test_doctor_lists_everything_and_exits_zero(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for key in ("python", "torch", "torchvision", "onnxruntime", "tensorrt", "PySide6", "weights", "plugins"):
        assert f" {key} " in out, key
    assert "CPUExecutionProvider" in out
    assert "build" in out  # CUDA build or CPU-only build is stated
    # no GPU and no TensorRT here: the line says what is missing and how to get it
    trt = next(line for line in out.splitlines() if " tensorrt " in line)
    assert "pip install" in trt or "libraries" in trt or trt.split()[-1][0].isdigit()
