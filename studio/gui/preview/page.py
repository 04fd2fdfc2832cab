"""The Preview page: a model's live predictions on an image, a folder, a video, a stream or a camera.

On top, the model: a run's checkpoint (the run picker the Inspect and Export pages share) or any model
file (a checkpoint, an exported ``.onnx``, OpenVINO ``.xml`` or TensorRT engine) through "Model file…".
Below, the source: drop or pick an image, a folder (stepped through with Previous / Next) or a video, type a
stream URL, or open a camera by its index ("Find cameras" lists those that open).

Everything that decodes or runs the model is a worker (:mod:`studio.gui.preview.jobs`); a video plays
through the core pipeline, whose frames reach the page through a one-frame mailbox that drops what the GUI
has no time to show (:mod:`studio.gui.preview.mailbox`). The score slider filters the detections of the
frame shown without running the model again. A source that fails (a corrupt video, a camera that goes
away) is a message naming it; the last frame stays shown.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QImage, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.detections import Detections
from studio.core.imageio import IMAGE_SUFFIXES
from studio.core.video.pipeline import FrameResult, VideoSummary
from studio.core.video.sources import VIDEO_SUFFIXES, CameraSource, FrameSource, is_stream_url, open_source
from studio.gui.common.commands import bind
from studio.gui.common.image_view import ImageView
from studio.gui.common.job_slot import JobSlot
from studio.gui.common.messages import error_html, status_label
from studio.gui.common.path_field import PathField
from studio.gui.common.run_picker import RunCombo, RunPicker
from studio.gui.common.workers import Jobs
from studio.gui.inspect.draw import draw_predictions, qimage_of
from studio.gui.preview.jobs import (
    CAMERA_INDICES,
    CameraOpener,
    ImageResult,
    PreviewModel,
    find_cameras,
    folder_images,
    load_preview_model,
    play_source,
    predict_image,
)
from studio.gui.preview.mailbox import LatestFrame
from studio.gui.shortcuts import shortcut, with_keys

DEFAULT_SCORE = 0.30
MODEL_FILTER = "Models (*.pt *.onnx *.xml *.engine *.plan *.trt);;All files (*)"
SOURCE_FILTER = f"Images and videos ({' '.join('*' + s for s in IMAGE_SUFFIXES + VIDEO_SUFFIXES)});;All files (*)"
NO_MODEL = "Choose a model first: a run's checkpoint above, or Model file…"


def short_name(label: str) -> str:
    """A source as the status bar names it: a file by its name, a camera or a URL as it is."""
    if label.startswith("camera ") or is_stream_url(label):
        return label
    return Path(label).name


class PreviewPage(RunCombo, RunPicker, QWidget):
    title = "Preview"

    def __init__(self, jobs: Jobs, parent: QWidget | None = None):
        super().__init__(parent)
        self.jobs = jobs
        self._init_run_picker()
        self.model: PreviewModel | None = None
        self.class_names: list[str] = []  # of the model whose detections are shown (kept while another loads)
        self.model_slot = JobSlot(jobs, self)
        self.image_slot = JobSlot(jobs, self)
        self.play_slot = JobSlot(jobs, self)
        self.camera_slot = JobSlot(jobs, self)
        self.camera_opener: CameraOpener = CameraSource  # a FakeCamera stands in for one in tests
        self.mailbox = LatestFrame(self)
        self.mailbox.arrived.connect(self._on_frame)
        self.paused = threading.Event()  # Pause asks the model thread to wait ...
        self.held = threading.Event()  # ... and it sets this while it does
        self.images: list[Path] = []  # the image or folder stepped through
        self.image_index = -1
        self.shown: tuple[np.ndarray, Detections] | None = None  # the frame on screen and all its detections
        self._qimage: QImage | None = None  # the frame shown, converted once
        self._shown_names: list[str] = []  # the class names of the model that gave its detections
        self.shown_boxes = 0  # detections drawn (at or above the slider's score)
        self.frames_shown = 0  # frames of the playing source drawn (the others were dropped)
        self.source_label = ""  # what plays or is shown, for messages
        self._replay: tuple[str, Callable[[], FrameSource]] | None = None  # what Play starts again after a stop
        self._pending: Callable[[], None] | None = None  # the source to start once the model is loaded
        self._build()
        self.setAcceptDrops(True)
        self._update_controls()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self._make_run_combos(240, 110)
        self.model_button = QPushButton("Model file…")
        self.model_button.setToolTip("A checkpoint (.pt) or an exported model (.onnx, OpenVINO .xml, TensorRT .engine)")
        self.model_button.clicked.connect(self._pick_model)
        self.model_info = QLabel("No model yet: train one on the Train page, or pick a model file.")
        self.model_info.setObjectName("muted")
        top = QHBoxLayout()
        top.addWidget(QLabel("Run"))
        top.addWidget(self.run_combo)
        top.addWidget(QLabel("Checkpoint"))
        top.addWidget(self.ckpt_combo)
        top.addWidget(self.model_button)
        top.addSpacing(10)
        top.addWidget(self.model_info, 1)

        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText(
            "Drop or pick an image, a folder or a video, or type a stream URL; Enter opens it"
        )
        self.source_edit.returnPressed.connect(lambda: self.open_source_text(self.source_edit.text()))
        self.file_button = QPushButton("Image or video…")
        self.file_button.clicked.connect(self._pick_file)
        self.folder_button = QPushButton("Folder…")
        self.folder_button.clicked.connect(self._pick_folder)
        self.camera_spin = QSpinBox()
        self.camera_spin.setRange(0, 15)
        self.camera_spin.setPrefix("camera ")
        self.camera_button = QPushButton("Open camera")
        self.camera_button.clicked.connect(lambda: self.open_camera(self.camera_spin.value()))
        self.find_button = QPushButton("Find cameras")
        self.find_button.setToolTip(f"Try cameras {CAMERA_INDICES[0]} to {CAMERA_INDICES[-1]} and list those that open")
        self.find_button.clicked.connect(self.find_cameras)
        src = QHBoxLayout()
        src.addWidget(QLabel("Source"))
        src.addWidget(self.source_edit, 1)
        src.addWidget(self.file_button)
        src.addWidget(self.folder_button)
        src.addSpacing(10)
        src.addWidget(self.camera_spin)
        src.addWidget(self.camera_button)
        src.addWidget(self.find_button)

        self.prev_button = QPushButton("◀ Previous")
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.play_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_playing)
        self.next_button = QPushButton("Next ▶")
        self.next_button.clicked.connect(lambda: self.step(1))
        self.score_slider = QSlider(Qt.Orientation.Horizontal)
        self.score_slider.setRange(1, 99)
        self.score_slider.setValue(round(DEFAULT_SCORE * 100))
        self.score_slider.setFixedWidth(160)
        self.score_slider.setToolTip("Show the detections scoring at least this (the model is not run again)")
        self.score_slider.valueChanged.connect(self._on_score)
        self.score_label = QLabel()
        self.score_label.setMinimumWidth(80)
        self.position = QLabel()
        self.fps_label = QLabel()
        self.count_label = QLabel()
        self.save_check = QCheckBox("Save annotated video to")
        self.save_path = PathField("save", "Save the annotated video as", "MP4 video (*.mp4)")
        self.save_path.edit.setPlaceholderText("a new .mp4 file")
        self.save_path.setFixedWidth(300)
        self._keyed: list[tuple[QAction, QPushButton]] = []  # each key's action and the button it follows
        self.key_actions = {
            "preview.prev": self._key_action("preview.prev", "Previous image", self.prev_button, lambda: self.step(-1)),
            "preview.play_pause": self._key_action(
                "preview.play_pause", "Play / pause", self.play_button, self.play_pause
            ),
            "preview.stop": self._key_action("preview.stop", "Stop", self.stop_button, self.stop_playing),
            "preview.next": self._key_action("preview.next", "Next image", self.next_button, lambda: self.step(1)),
        }
        bar = QHBoxLayout()
        for w in (self.prev_button, self.play_button, self.stop_button, self.next_button):
            bar.addWidget(w)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Score"))
        bar.addWidget(self.score_slider)
        bar.addWidget(self.score_label)
        bar.addWidget(self.count_label)
        bar.addSpacing(12)
        bar.addWidget(self.position)
        bar.addSpacing(8)
        bar.addWidget(self.fps_label)
        bar.addStretch(1)

        self.status = status_label()
        under = QHBoxLayout()
        under.addWidget(self.status, 1)
        under.addWidget(self.save_check)
        under.addWidget(self.save_path)
        self.view = ImageView()
        self.view.set_canvas(640, 360)
        self.view.set_placeholder_text("Drop an image, a folder or a video here, or open a camera")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.addLayout(top)
        lay.addLayout(src)
        lay.addLayout(bar)
        lay.addLayout(under)
        lay.addWidget(self.view, 1)
        self._on_score(self.score_slider.value())

    # ------------------------------------------------------------------ the model (RunPicker)
    def _busy(self) -> bool:
        return self.play_slot.running  # a playing source keeps its model until it stops

    def _set_checkpoint(self, path: Path) -> None:
        if path == self.checkpoint:
            return
        self._halt()  # a source plays with the model it started with: stop it rather than mix two
        self.checkpoint = path
        self.model = None
        self.model_slot.cancel()
        self.model_info.setText(html.escape(f"{path.name}: loaded when this page is shown"))
        if self.isVisible():
            self._load_model()
        self._update_controls()

    def _load_model(self) -> None:
        """Load the checkpoint chosen, unless it is loaded or loading: only once the page is seen, so that the
        newest run's model is not loaded at every start of the app for a page nobody opened."""
        path = self.checkpoint
        if path is None or self.model is not None or self.model_slot.running:
            return
        self.model_info.setText(html.escape(f"Loading {path.name}…"))
        self.model_slot.start(
            load_preview_model, path, title=f"Loading {path.name}", done=self._on_model, failed=self._on_model_failed
        )

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._load_model()

    def use_model(self, path: str | Path) -> None:
        """Preview with ``path``: a checkpoint anywhere, or an exported model."""
        self._halt()
        self.select_checkpoint(Path(path))

    def _pick_model(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Model to preview", str(self.checkpoint or ""), MODEL_FILTER)
        if chosen:
            self.use_model(chosen)

    def _on_model(self, model: PreviewModel) -> None:
        if model.path != self.checkpoint:
            return
        self.model = model
        self.class_names = model.class_names
        self.model_info.setText(html.escape(f"{model.describe()} · {model.path.parent}"))
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()
        elif self.images:
            self._predict_current()
        self._update_controls()

    def _on_model_failed(self, message: str) -> None:
        if message != "cancelled":
            self.model_info.setText("")
            self.status.setText(error_html(f"Cannot load the model: {message}"))
        self._update_controls()

    def _with_model(self, start: Callable[[], None]) -> None:
        """Run ``start`` now, or once the model being loaded is there; a message when there is none."""
        if self.model is not None:
            start()
        elif self.checkpoint is not None:
            self._pending = start
            self._load_model()
            self.status.setText("Loading the model; the source starts when it is ready…")
        else:
            self._pending = start
            self.status.setText(error_html(NO_MODEL))

    # ------------------------------------------------------------------ sources
    def open_source_text(self, text: str) -> None:
        """A path or URL typed or dropped: a stream URL, a folder, a video file or an image file."""
        text = text.strip()
        if not text:
            return
        self.source_edit.setText(text)
        if is_stream_url(text):
            self.play(text, lambda: open_source(text))
            return
        path = Path(text).expanduser()
        if path.is_dir():
            self.open_folder(path)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            self.play(str(path), lambda: open_source(path))
        else:
            self.open_images([path], str(path))

    def open_folder(self, folder: Path) -> None:
        self.stop_playing()
        self.source_label = str(folder)
        self.status.setText(html.escape(f"Listing the images of {folder}…"))
        self.image_slot.start(
            folder_images,
            folder,
            title=f"Listing {folder.name}",
            done=lambda found: self.open_images(found, str(folder)),
            failed=self._on_source_failed,
        )

    def open_images(self, paths: list[Path], label: str) -> None:
        """Step through ``paths`` (one image, or a folder's), starting at the first."""
        self.stop_playing()
        self.images, self.image_index, self.source_label = list(paths), 0, label
        self._replay = None
        self._with_model(self._predict_current)
        self._update_controls()

    def step(self, delta: int) -> None:
        """Previous (-1) or next (+1) image of the folder."""
        if not self.images:
            return
        index = min(max(self.image_index + delta, 0), len(self.images) - 1)
        if index != self.image_index:
            self.image_index = index
            self._with_model(self._predict_current)
            self._update_controls()

    def _predict_current(self) -> None:
        if self.model is None or not self.images:
            return
        path = self.images[self.image_index]
        self.image_slot.start(
            predict_image,
            self.model,
            path,
            title=f"Preview {path.name}",
            done=self._on_image,
            failed=self._on_source_failed,
        )

    def _on_image(self, result: ImageResult) -> None:
        if not self.images or result.path != self.images[self.image_index] or result.model != self.checkpoint:
            return  # another image was asked for since, or another model (the image is predicted again)
        self._show(result.image, result.detections)
        n = len(self.images)
        self.position.setText(html.escape(f"image {self.image_index + 1} of {n} · {result.path.name}"))
        self.fps_label.setText(f"{result.seconds * 1000:.0f} ms")
        self.status.setText("")

    def open_camera(self, index: int) -> None:
        opener = self.camera_opener
        self.play(f"camera {index}", lambda: opener(index))

    def find_cameras(self) -> None:
        self.status.setText("Looking for cameras…")
        self.camera_slot.start(
            find_cameras,
            self.camera_opener,
            title="Looking for cameras",
            done=self._on_cameras,
            failed=self._on_source_failed,
        )

    def _on_cameras(self, found: list[int]) -> None:
        if not found:
            tried = f"{CAMERA_INDICES[0]} to {CAMERA_INDICES[-1]}"
            self.status.setText(error_html(f"No camera found (tried cameras {tried})."))
            return
        self.camera_spin.setValue(found[0])
        self.status.setText(html.escape(f"Cameras that open: {', '.join(str(i) for i in found)}"))

    # ------------------------------------------------------------------ playing
    def play(self, label: str, opener: Callable[[], FrameSource]) -> None:
        """Play a video, stream or camera: ``opener`` opens it in the worker."""
        self.stop_playing()
        self.images, self.image_index = [], -1
        self.source_label = label
        self._replay = (label, opener)
        self._with_model(lambda: self._start_playing(label, opener))
        self._update_controls()

    def _start_playing(self, label: str, opener: Callable[[], FrameSource]) -> None:
        video_out = None
        if self.save_check.isChecked():
            video_out = self.save_path.path()
            if video_out is None or video_out.suffix.lower() != ".mp4" or video_out.is_dir():
                self.status.setText(error_html("Name a new .mp4 file to save the annotated video to."))
                return
        self.paused.clear()
        self.mailbox.clear()
        self.frames_shown = 0
        self.status.setText(html.escape(f"Opening {label}…"))
        self.play_slot.start(
            play_source,
            self.model,
            opener,
            self.mailbox.put,
            self.paused,
            held=self.held,
            video_out=video_out,
            title=f"Preview {short_name(label)}",
            done=self._on_play_done,
            failed=self._on_source_failed,
        )
        self._update_controls()

    def play_pause(self) -> None:
        """Pause or resume the source playing; after a stop or the end, play it again from the start."""
        if self.play_slot.running:
            if self.paused.is_set():
                self.paused.clear()
                self.status.setText(html.escape(f"Playing {self.source_label}"))
            else:
                self.paused.set()
                self.status.setText(html.escape(f"Paused {self.source_label}"))
        elif self._replay is not None:
            label, opener = self._replay
            self._with_model(lambda: self._start_playing(label, opener))
        self._update_controls()

    def stop_playing(self) -> None:
        """Stop: the source playing (the worker closes it), or the one waiting for the model; the last frame
        stays shown."""
        self._pending = None
        self._halt()

    def _halt(self) -> None:
        """Stop the source playing, keeping a source that waits for the model (a model chosen after it)."""
        if self.play_slot.running:
            self.play_slot.cancel()
            self.paused.clear()
            self.status.setText(html.escape(f"Stopped {self.source_label}."))
        self._update_controls()

    def _on_frame(self, last: bool = False) -> None:
        item = self.mailbox.take()
        if item is None or not (last or self.play_slot.running):  # a late frame of a source stopped
            return
        result, fps = item
        assert isinstance(result, FrameResult)
        if self.frames_shown == 0:
            self.status.setText(html.escape(f"Playing {self.source_label}"))
        self.frames_shown += 1
        self._show(result.image, result.detections)
        self.position.setText(f"frame {result.index} · {result.timestamp:.2f} s")
        self.fps_label.setText(f"{fps:.1f} FPS" if fps else "")

    def _on_play_done(self, summary: VideoSummary) -> None:
        self._on_frame(last=True)  # the last frame, if the GUI had not taken it yet
        self.status.setText(html.escape(f"Finished: {summary.describe()}"))
        self._update_controls()

    def _on_source_failed(self, message: str) -> None:
        """A source that does not open or stops: its message (it names the source); the last frame stays."""
        if message == "cancelled":
            return
        missing = message.startswith("camera ") and "cannot be opened" in message
        prefix = "No camera found: " if missing else ""
        self.status.setText(error_html(prefix + message))
        self._update_controls()

    # ------------------------------------------------------------------ drawing
    def score_thr(self) -> float:
        return self.score_slider.value() / 100

    def _on_score(self, value: int) -> None:
        self.score_label.setText(f"≥ {value / 100:.2f}")
        if self.shown is not None:
            self._draw_detections()

    def _show(self, image: np.ndarray, dets: Detections) -> None:
        self.shown = (image, dets)
        self._shown_names = list(self.class_names)
        self._qimage = qimage_of(image)
        self._draw_detections()

    def _draw_detections(self) -> None:
        """Draw the frame shown and its detections at the slider's score (no model run). The scene is rebuilt
        (as the Inspect page does): items removed one by one and left to Python's collector can crash Qt."""
        image, dets = self.shown
        h, w = image.shape[:2]
        self.view.set_canvas(w, h)
        self.view.set_image(self._qimage)
        draw_predictions(self.view.scene(), dets, None, self.score_thr(), self._shown_names)
        self.shown_boxes = int((np.asarray(dets.scores) >= self.score_thr()).sum()) if len(dets) else 0
        self.count_label.setText(f"{self.shown_boxes} of {len(dets)} shown")

    def _key_action(self, sid: str, text: str, button: QPushButton, slot: Callable[[], object]) -> QAction:
        """The page's key for ``button`` (table row ``sid``), enabled with it so a disabled one leaves the key to
        the focused widget; the button's tooltip names the key."""
        act = bind(QAction(text, self), sid)
        act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        act.triggered.connect(lambda _=False: slot())
        self.addAction(act)
        button.setToolTip(with_keys(shortcut(sid).description, sid))
        self._keyed.append((act, button))
        return act

    # ------------------------------------------------------------------ state
    def _update_controls(self) -> None:
        playing = self.play_slot.running
        self.play_button.setText("Play" if not playing or self.paused.is_set() else "Pause")
        self.play_button.setEnabled(playing or self._replay is not None)
        self.stop_button.setEnabled(playing)
        folder = len(self.images) > 1
        self.prev_button.setEnabled(folder and self.image_index > 0)
        self.next_button.setEnabled(folder and self.image_index < len(self.images) - 1)
        self.save_check.setEnabled(not playing)
        self.save_path.setEnabled(not playing)
        for act, button in self._keyed:
            act.setEnabled(button.isEnabled())

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasText():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        data = event.mimeData()
        urls = data.urls()
        if urls:
            text = urls[0].toLocalFile() if urls[0].isLocalFile() else urls[0].toString()
        else:
            text = data.text()
        event.acceptProposedAction()
        self.open_source_text(text)

    def _pick_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Image or video to preview", self.source_edit.text(), SOURCE_FILTER
        )
        if chosen:
            self.open_source_text(chosen)

    def _pick_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Folder of images to preview", self.source_edit.text())
        if chosen:
            self.open_source_text(chosen)

    # ------------------------------------------------------------------ shutdown
    def stop(self) -> None:
        """Cancel this page's jobs (the window is closing; Jobs.shutdown joins them)."""
        self._pending = None
        for slot in (self.play_slot, self.image_slot, self.model_slot, self.camera_slot):
            slot.cancel()
