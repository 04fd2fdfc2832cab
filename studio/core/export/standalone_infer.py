"""Run a Studio ONNX export on images, with numpy, OpenCV and ONNX Runtime only (no Studio, no PyTorch).

Copied next to every export as ``infer.py``: a starting point for your own code.

    pip install numpy opencv-python-headless onnxruntime
    python infer.py photo.jpg more/*.png [--model model.onnx] [--score-thr 0.5] [--draw out/]

Prints one JSON line per image: {"file", "detections": [{"class", "score", "box": [x0, y0, x1, y1], "mask_area"?}]},
boxes in the image's pixels. The model's classes, input size and output layout are read from the model's
metadata (key "studio"), written by `studio export`.
"""

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def preprocess(rgb, size, square, stride=32):
    """Longest side -> size, pad right/bottom with 0 to size x size (square) or a multiple of 32; CHW floats
    in [0, 1]."""
    h, w = rgb.shape[:2]
    scale = size / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    if (rh, rw) != (h, w):
        rgb = cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ih, iw = (size, size) if square else (-(-rh // stride) * stride, -(-rw // stride) * stride)
    x = np.zeros((3, ih, iw), np.float32)
    x[:, :rh, :rw] = rgb.transpose(2, 0, 1) / np.float32(255)
    return x, (rh, rw)


def paste_mask(mask, box, h, w):
    """An MxM probability mask inside ``box`` (input pixels) -> an h x w probability image (torchvision's way)."""
    m = np.pad(mask.astype(np.float32), 1)
    s = np.float32(m.shape[0]) / np.float32(mask.shape[0])
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) / 2 * s, (box[3] - box[1]) / 2 * s
    x0, y0, x1, y1 = (int(v) for v in (cx - hw, cy - hh, cx + hw, cy + hh))
    out = np.zeros((h, w), np.float32)
    r = cv2.resize(m, (max(x1 - x0 + 1, 1), max(y1 - y0 + 1, 1)), interpolation=cv2.INTER_LINEAR)
    ax0, ax1, ay0, ay1 = max(x0, 0), min(x1 + 1, w), max(y0, 0), min(y1 + 1, h)
    if ax1 > ax0 and ay1 > ay0:
        out[ay0:ay1, ax0:ax1] = r[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    return out


class Model:
    def __init__(self, path, score_thr=None):
        self.session = ort.InferenceSession(str(path), providers=ort.get_available_providers())
        self.meta = json.loads(self.session.get_modelmeta().custom_metadata_map["studio"])
        self.names = self.meta["classes"]["names"]
        self.square = self.meta["letterbox"] or self.meta["static_size"]
        self.thr = max(self.meta["score_thr"], score_thr or 0.0)
        self.input = self.session.get_inputs()[0].name
        self.batch = self.meta["batch"] or 1

    def __call__(self, rgb):
        """RGB uint8 image -> list of (class name, score, [x0, y0, x1, y1], bool mask or None)."""
        x, (rh, rw) = preprocess(rgb, self.meta["image_size"], self.square)
        batch = np.zeros((self.batch,) + x.shape, np.float32)
        batch[0] = x
        outs = dict(zip([o.name for o in self.session.get_outputs()], self.session.run(None, {self.input: batch})))
        boxes, scores, labels, masks = outs["boxes"], outs["scores"], outs["labels"], outs.get("masks")
        if "num_dets" in outs:  # end-to-end export: padded (batch, max_det, ...) outputs
            n = int(outs["num_dets"][0, 0])
            boxes, scores, labels = boxes[0, :n], scores[0, :n], labels[0, :n]
            masks = None if masks is None else masks[0, :n]
        elif masks is not None:
            masks = masks[:, 0]
        h, w = rgb.shape[:2]
        sx, sy = w / rw, h / rh
        found = []
        for i in np.argsort(-scores, kind="stable"):
            if scores[i] < self.thr:
                continue
            box = boxes[i] * np.array([sx, sy, sx, sy], np.float32)
            box = [
                float(np.clip(box[0], 0, w)),
                float(np.clip(box[1], 0, h)),
                float(np.clip(box[2], 0, w)),
                float(np.clip(box[3], 0, h)),
            ]
            mask = None
            if masks is not None:
                full = paste_mask(masks[i], boxes[i], x.shape[1], x.shape[2])[:rh, :rw]
                mask = cv2.resize(full, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
            found.append((self.names[int(labels[i]) - 1], float(scores[i]), box, mask))
        return found


def draw(rgb, found):
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for name, score, (x0, y0, x1, y1), mask in found:
        if mask is not None:
            img[mask] = (0.55 * img[mask] + 0.45 * np.array([0, 200, 255])).astype(np.uint8)
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), (0, 200, 255), 2)
        cv2.putText(
            img, f"{name} {score:.2f}", (int(x0), max(int(y0) - 4, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 200, 255), 1
        )
    return img


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run a Studio ONNX export on images.")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--model", default=str(Path(__file__).with_name("model.onnx")))
    ap.add_argument("--score-thr", type=float, default=None)
    ap.add_argument("--draw", metavar="DIR", help="write copies of the images with the detections drawn")
    a = ap.parse_args(argv)
    model = Model(a.model, a.score_thr)
    for p in a.images:
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"cannot read {p}", file=sys.stderr)
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        found = model(rgb)
        dets = [
            {"class": n, "score": round(s, 5), "box": [round(v, 2) for v in b]}
            | ({"mask_area": int(m.sum())} if m is not None else {})
            for n, s, b, m in found
        ]
        print(json.dumps({"file": p, "detections": dets}))
        if a.draw:
            Path(a.draw).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(Path(a.draw) / Path(p).name), draw(rgb, found))


if __name__ == "__main__":
    main()
