"""The trainer: one core job that turns a config into a run folder.

Run folder::

    config.yaml          the resolved config (what `studio config show` would print)
    events.jsonl         every event, for the GUI charts to replay
    last.pt best.pt      checkpoints (best by val mAP); epoch_N.pt every N epochs, K kept
    metrics.json ...     the evaluation report of the best epoch (PR curves, confusion matrix)
    run.lock             while a process trains it (see :mod:`studio.core.training.run_lock`)

Progress goes out as typed events to callbacks (see :mod:`studio.core.training.events`), one IterationEnd
per log point (about every 0.5 s: no iteration reads a tensor on the host in between). The cancel token
is checked every iteration (in DDP at the log points); cancelling or failing leaves ``last.pt`` to resume from.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from studio.core import checkpoint as ckpt_io
from studio.core.amp import amp_dtype, autocast
from studio.core.config.loader import save_config
from studio.core.config.schema import Config
from studio.core.device import resolve_device
from studio.core.errors import CancelledError, StudioError, error_message
from studio.core.jobs import CancelToken
from studio.core.training.budget import evaluation_due
from studio.core.training.ema import ModelEMA
from studio.core.training.events import (
    CheckpointSaved,
    EpochEnd,
    Event,
    IterationEnd,
    Message,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunResult,
    RunStarted,
)
from studio.core.training.loss_window import LossWindow
from studio.core.training.optim import build_optimizer
from studio.core.training.preflight import preflight
from studio.core.training.run_folder import refuse_existing_run
from studio.core.training.run_lock import RunLock
from studio.core.training.runlog import RunLog
from studio.core.training.schedule import LRSchedule
from studio.core.training.seeding import epoch_seed, seed_everything


class _TimeUp(Exception):
    pass


#: how often the loop reads the loss terms on the host (and DDP agrees on stopping): about every
#: LOG_INTERVAL_S seconds, as measured by rank 0, and at least every LOG_MAX_ITERS iterations
LOG_INTERVAL_S = 0.5
LOG_MAX_ITERS = 200
_STOP_CANCEL, _STOP_TIME = 1, 2


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def to_device(images, targets, device):
    """A batch (images and their target dicts) on ``device``."""
    nb = device.type == "cuda"
    images = [im.as_subclass(torch.Tensor).to(device, non_blocking=nb) for im in images]
    out = []
    for t in targets:
        out.append(
            {
                k: (v.as_subclass(torch.Tensor).to(device, non_blocking=nb) if isinstance(v, torch.Tensor) else v)
                for k, v in t.items()
            }
        )
    return images, out


class Trainer:
    """Train ``cfg`` into ``run_dir``. ``resume``: a checkpoint path to continue from (or None)."""

    def __init__(
        self,
        cfg: Config,
        run_dir: str | Path,
        *,
        callbacks: Iterable[Callable[[Event], None]] = (),
        cancel: CancelToken | None = None,
        resume: str | Path | None = None,
        rank: int = 0,
        world_size: int = 1,
        source: str | Path | None = None,
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.callbacks = list(callbacks)
        self.cancel = cancel or CancelToken()
        self.resume_path = Path(resume) if resume else None
        self.rank = rank
        self.world_size = world_size
        self.source = source
        self.is_main = rank == 0
        self._log: RunLog | None = None
        self._lock: RunLock | None = None  # rank 0's hold on the run folder
        self._pending: list[Event] = []  # events before RunStarted: logged and handed on after it
        self._started = False
        self._t_start = 0.0
        self._elapsed_before = 0.0  # seconds trained before this session (resume)
        self.epoch_done = 0
        self.global_iter = 0
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.last_metrics: dict = {}
        self._read_every = 1  # iterations until the next log point: the first iteration is read, then ~0.5 s
        self._rate: float | None = None  # images / s, smoothed over the log points

    # ---------------------------------------------------------------- events
    def emit(self, event: Event) -> None:
        """Log ``event`` and hand it to the callbacks. The run opens with RunStarted: what setup said before
        (the pre-flight's warnings) waits and follows it, or comes just before a RunFailed."""
        if not self.is_main:
            return
        if not self._started and not isinstance(event, (RunStarted, RunFailed)):
            self._pending.append(event)
            return
        self._deliver(event)
        if isinstance(event, RunStarted):
            self._started = True
            self._flush_pending()

    def _deliver(self, event: Event) -> None:
        if isinstance(event, RunFailed) and not self._started:  # failed before it started: what led there first
            self._flush_pending()
        if self._log is not None:
            try:
                self._log(event)
            except OSError:
                if not isinstance(event, RunFailed):  # else the run is failing already: its error is the one to report
                    raise
        for cb in self.callbacks:
            cb(event)

    def message(self, text: str, level: str = "info") -> None:
        self.emit(Message(level, text))

    def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        for ev in pending:
            self._deliver(ev)

    @property
    def elapsed(self) -> float:
        return self._elapsed_before + (time.time() - self._t_start)

    # ---------------------------------------------------------------- setup
    def setup(self) -> None:
        from studio.core.data.dataset import DetectionDataset  # deferred: cv2, torchvision
        from studio.core.data.loader import make_loader  # deferred: cv2, torchvision
        from studio.core.models import build_model, get_arch  # deferred: torchvision
        from studio.core.models.accel import prepare_for_training  # deferred: torchvision

        cfg = self.cfg
        resume_ckpt = ckpt_io.load(self.resume_path) if self.resume_path else None
        report = preflight(cfg, resume=resume_ckpt, world_size=self.world_size)
        report.raise_if_failed(self.source)
        for f in report.findings:
            if f.level == "warning":
                self.message(f"{f.item}: {f.message}", "warning")
        self.class_map = report.class_map
        self.train_split, self.val_split = report.train, report.val
        self.spec = get_arch(cfg.model.arch)
        self.with_masks = self.spec.task == "segment"
        self.metric_name = "segm_mAP" if self.with_masks else "bbox_mAP"
        self.letterbox = cfg.data.letterbox or self.spec.square_input

        dev = resolve_device(cfg.train.device)
        if self.world_size > 1 and dev.type == "cuda":
            dev = torch.device("cuda", torch.cuda.current_device())  # set by the launcher: rank, or LOCAL_RANK
        self.device = dev
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
            torch.cuda.reset_peak_memory_stats(dev)

        seed_everything(cfg.train.seed)
        model = build_model(
            cfg.model.arch,
            self.class_map.num_classes,
            image_size=cfg.data.image_size,
            score_thr=cfg.model.score_thr,
            max_detections=cfg.model.max_detections,
            weights=None if resume_ckpt else cfg.model.weights,
            log=self.message,
            # a resumed run rebuilds the frozen parts of its first start, so the optimiser state fits
            finetune=cfg.model.weights not in (None, "", "none"),
            backbone=cfg.model.backbone,
            freeze_backbone=cfg.model.freeze_backbone,
        )
        model.to(dev)
        self.model = model
        self.ema = ModelEMA(model) if cfg.train.ema else None
        prepare_for_training(
            model, dev, compile=cfg.train.compile, ema_module=self.ema and self.ema.module, log=self.message
        )

        def dataset(split, train: bool) -> DetectionDataset:
            return DetectionDataset(
                split.dataset,
                split.images_dir,
                self.class_map,
                size=cfg.data.image_size,
                letterbox=self.letterbox or not train,  # validation: predict's one preprocessing (preprocess.py)
                train=train,
                augment=cfg.data.augment if train else None,
                with_masks=self.with_masks,
                cache=cfg.data.cache,
            )

        self.train_set = dataset(self.train_split, True)
        self.train_loader = make_loader(
            self.train_set,
            cfg.train.batch_size,
            train=True,
            workers=cfg.data.workers,
            device_type=dev.type,
            seed=cfg.train.seed,
            distributed=self.world_size > 1,
        )
        # only rank 0 evaluates
        self.val_set = dataset(self.val_split, False) if self.val_split is not None and self.is_main else None
        self.iters_per_epoch = len(self.train_loader)
        if self.iters_per_epoch == 0:
            raise StudioError(
                "the training set gives no batch (fewer images than train.batch_size?)", item="train.batch_size"
            )

        self.optimizer = build_optimizer(model, cfg.train)
        self.peak_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.schedule = LRSchedule(
            cfg.train.schedule,
            total_iters=cfg.train.epochs * self.iters_per_epoch,
            warmup_iters=min(cfg.train.warmup_iters, max(1, cfg.train.epochs * self.iters_per_epoch // 3)),
            milestones=tuple(cfg.train.step_milestones),
            gamma=cfg.train.step_gamma,
            time_limit=cfg.train.time_limit,
            warmup_fraction=cfg.train.warmup_fraction,
        )
        self._evaluated_at = 0.0  # run progress (0..1) at the last evaluation: train.eval_interval counts from it
        self.amp_dtype = amp_dtype(cfg.train.amp)
        self.scaler = self._make_scaler()

        if resume_ckpt is not None:
            self._restore(resume_ckpt)
            self._evaluated_at = self.schedule.progress(self.global_iter, self._elapsed_before)

        if self.world_size > 1:
            if dev.type == "cuda":  # per-GPU batches are small: share BatchNorm statistics (NCCL only)
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True
            )

    def _restore(self, ck: ckpt_io.Checkpoint) -> None:
        d = ck.data
        self.model.load_state_dict(d["model"])
        if self.ema is not None and d.get("ema"):
            self.ema.load(d["ema"], d.get("ema_updates", 0))
        if d.get("optimizer"):
            self.optimizer.load_state_dict(d["optimizer"])
            for g, lr in zip(self.optimizer.param_groups, self.peak_lrs):
                g["initial_lr"] = lr
        if d.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(d["scaler"])
        self.epoch_done = int(d.get("epoch", 0))
        self.global_iter = int(d.get("global_iter", self.epoch_done * self.iters_per_epoch))
        self._elapsed_before = float(d.get("elapsed_s", 0.0))
        self.best_metric = d.get("best_metric")
        self.best_epoch = d.get("best_epoch")
        prev_epochs = ck.config.train.epochs
        if d.get("finished"):
            if self.cfg.train.epochs <= self.epoch_done:
                raise StudioError(
                    f"this run already finished {self.epoch_done} epochs; to extend it raise train.epochs "
                    f"(e.g. --set train.epochs={self.epoch_done + max(1, self.epoch_done // 2)})",
                    file=ck.path,
                )
            self.schedule.extend_from = self.global_iter
            self.message(f"extending a finished run from {self.epoch_done} to {self.cfg.train.epochs} epochs")
        elif prev_epochs != self.cfg.train.epochs:
            self.message(
                f"train.epochs changed from {prev_epochs} to {self.cfg.train.epochs}: "
                "the lr schedule is stretched to the new length",
                "warning",
            )
        self._resumed = True

    # ---------------------------------------------------------------- the run folder
    def open_run_folder(self) -> None:
        """Rank 0 takes the folder's lock (refusing one another process trains), refuses to replace a run
        unless resuming (checked again here: another process may have started since train_job looked), then
        opens the event log, writes the config and starts the run's clock. In DDP every rank learns whether that
        worked. :meth:`run` calls it after :meth:`setup`, and :meth:`close_run_folder` at the end (as does a
        benchmark that drives :meth:`train_epoch` itself)."""
        failed: BaseException | None = None
        if self.is_main:
            try:
                self._lock = RunLock(self.run_dir, purpose=f"studio train {self.source or ''}".strip())
                stale = self._lock.acquire()
                if self.resume_path is None:
                    refuse_existing_run(self.run_dir)
                self._log = RunLog(self.run_dir)
                if stale is not None:
                    self.message(f"took over a stale lock of pid {stale.pid} on host {stale.host}")
                save_config(self.cfg, self.run_dir / "config.yaml")
            except BaseException as e:  # noqa: BLE001 - re-raised below, after the other ranks heard of it
                failed = e
        if self.world_size > 1 and self._stop_flag(failed is not None) and failed is None:
            raise StudioError("rank 0 could not open the run folder", file=self.run_dir)
        if failed is not None:
            raise failed
        self._t_start = time.time()

    def close_run_folder(self) -> None:
        if self._log is not None:
            self._flush_pending()  # a driver that never emitted RunStarted (a benchmark)
            self._log.close()
        if self._lock is not None:
            self._lock.release()

    @property
    def _owns_folder(self) -> bool:
        return self._lock is not None and self._lock.held

    # ---------------------------------------------------------------- checkpoints
    def _payload(self, epoch: int, finished: bool, partial: bool = False) -> dict:
        return {
            "arch": self.cfg.model.arch,
            "task": self.spec.task,
            "classes": self.class_map.to_dict(),
            "config": self.cfg.model_dump(mode="json"),
            "model": _unwrap(self.model).state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "ema_updates": self.ema.updates if self.ema else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": epoch,
            "global_iter": self.global_iter,
            "elapsed_s": self.elapsed,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "metric_name": self.metric_name,
            "metrics": dict(self.last_metrics),
            "finished": finished,
            "partial": partial,
            "rng": ckpt_io.rng_state(),
            "torch_version": str(torch.__version__),
            "time": time.time(),
        }

    def _save(self, epoch: int, *, is_best: bool, finished: bool, partial: bool = False) -> None:
        if not self.is_main:
            return
        payload = self._payload(epoch, finished, partial)
        last = ckpt_io.save(self.run_dir / "last.pt", payload)
        self.emit(CheckpointSaved(epoch, str(last), "last"))
        if is_best:
            best = ckpt_io.copy(last, self.run_dir / "best.pt")
            self.emit(CheckpointSaved(epoch, str(best), "best"))
        t = self.cfg.train
        if not partial and t.keep_checkpoints > 0 and epoch % t.checkpoint_every == 0:
            p = ckpt_io.copy(last, self.run_dir / f"epoch_{epoch}.pt")
            self.emit(CheckpointSaved(epoch, str(p), "epoch"))
            kept = sorted(self.run_dir.glob("epoch_*.pt"), key=lambda q: int(q.stem.split("_")[1]))
            for old in kept[: -t.keep_checkpoints]:
                old.unlink(missing_ok=True)

    # ---------------------------------------------------------------- loop
    def _stop_flag(self, local: bool) -> bool:
        """In DDP every rank must stop at the same iteration: rank 0's clock and token decide."""
        if self.world_size == 1:
            return local

        flag = torch.tensor([1.0 if local else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(flag, 0)
        return bool(flag.item())

    def _pause_point(self, epoch: int, iteration: int) -> float:
        """Wait here while the run is paused (RunControl); paused time is not training time."""
        wait = getattr(self.cancel, "wait_while_paused", None)
        if wait is None or not self.is_main:  # in DDP the other ranks wait at the next collective
            return 0.0
        waited = wait(
            on_pause=lambda: self.message(f"paused before epoch {epoch}, iteration {iteration}"),
            on_resume=lambda: self.message("resumed"),
        )
        self._t_start += waited
        return waited

    def _make_scaler(self) -> torch.amp.GradScaler:
        """fp16's loss scaling (a no-op scaler for bf16 and fp32, whose range needs none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.cfg.train.amp == "fp16")

    def _time_up(self) -> bool:
        limit = self.cfg.train.time_limit
        return bool(limit) and self.elapsed >= limit

    def train_epoch(self, epoch: int, batches: Iterable | None = None) -> dict[str, float]:
        """One pass over the training set (or over ``batches``); returns the mean of each loss term.

        No iteration reads a tensor on the host: the loss terms are summed on the device
        (:class:`LossWindow`) and read at log points (:meth:`_log_point`, about every ``LOG_INTERVAL_S``
        and at the epoch's end), which check them, emit one IterationEnd and, in DDP, agree on stopping.
        On one process the cancel token and the time limit, host flags, are also looked at every iteration.
        """
        from studio.core.data.loader import set_epoch  # deferred: cv2, torchvision

        cfg = self.cfg.train
        model = self.model
        model.train()
        seed_everything(epoch_seed(cfg.seed, epoch, self.rank))
        if batches is None:
            set_epoch(self.train_loader, epoch)
            batches = self.train_loader
        self._epoch_sums: dict[str, float] = {}
        self._epoch_counts: dict[str, int] = {}
        window = LossWindow(self.device)
        self._window_t0 = time.time()
        self._window_images = 0
        single = self.world_size == 1
        read_at = self._read_every
        i = lr = 0
        with_autocast = autocast(self.device, self.amp_dtype)
        for i, (images, targets) in enumerate(batches, start=1):
            waited = self._pause_point(epoch, i)
            self._window_t0 += waited  # the rate ignores the pause
            if waited and single:  # a log point right after a pause: the charts move again at once
                read_at = i
            if single and self.cancel.cancelled:
                raise CancelledError()
            images, targets = to_device(images, targets, self.device)
            lr = self.schedule.apply(self.optimizer, self.peak_lrs, self.global_iter, self.elapsed)
            with with_autocast:
                loss_dict = model(images, targets)
            loss = sum(loss_dict.values())
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(model)
            self.global_iter += 1
            window.add(loss_dict)
            self._window_images += len(images)
            if i >= read_at or (single and self._time_up()):
                self._log_point(epoch, i, lr, window)
                read_at = i + self._read_every
        if window.iterations:  # the epoch's last iterations (every rank has as many batches)
            self._log_point(epoch, i, lr, window)
        return self._epoch_loss_means()

    def _epoch_loss_means(self) -> dict[str, float]:
        return {k: v / max(self._epoch_counts[k], 1) for k, v in self._epoch_sums.items()}

    def _log_point(self, epoch: int, i: int, lr: float, window: LossWindow) -> None:
        """Read the window (one host read), refuse non-finite losses, emit its IterationEnd, then stop here if
        cancelled or out of time. In DDP one all-reduce (a sum) carries rank 0's stop reason and next read
        interval (its clock decides; the others follow by iteration count) with every rank's loss sums, so all
        ranks read the same numbers: the mean over the ranks, non-finite on every rank when it is on one."""
        taken = window.take()
        now = time.time()
        seconds = max(now - self._window_t0, 1e-9)
        stop = _STOP_CANCEL if self.cancel.cancelled else _STOP_TIME if self._time_up() else 0
        every = max(1, min(LOG_MAX_ITERS, round(LOG_INTERVAL_S * taken.iterations / seconds)))
        if self.world_size > 1:
            head = [float(stop), float(every)] if self.is_main else [0.0, 0.0]
            vec = torch.cat([torch.tensor(head, device=taken.values.device), taken.values])
            dist.all_reduce(vec, op=dist.ReduceOp.SUM)
            values = vec.tolist()
            stop, every = int(values[0]), int(values[1])
            read = taken.on_host([v / self.world_size for v in values[2:]])
        else:
            read = taken.read()
        bad = not read.finite()
        self._read_every = every
        first = i - read.iterations + 1
        means = read.means()
        total = sum(means.values())
        if bad:
            at = f"iteration {i}" if first == i else f"iterations {first}-{i}"
            terms = ", ".join(f"{k}={v:.4g}" for k, v in means.items())
            raise StudioError(
                f"the loss became {total} at epoch {epoch}, {at} ({terms}); "
                "lower train.lr, keep train.grad_clip on, or check the annotations"
            )
        for k, v in read.sums.items():
            self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
            self._epoch_counts[k] = self._epoch_counts.get(k, 0) + read.counts[k]
        rate = self._window_images * self.world_size / seconds
        self._rate = rate if self._rate is None else 0.5 * self._rate + 0.5 * rate
        its_left = self.cfg.train.epochs * self.iters_per_epoch - self.global_iter
        eta = its_left * self.cfg.train.batch_size * self.world_size / max(self._rate, 1e-9)
        if self.cfg.train.time_limit:
            eta = min(eta, max(0.0, self.cfg.train.time_limit - self.elapsed))
        self.emit(
            IterationEnd(
                epoch,
                i,
                self.global_iter,
                self.iters_per_epoch,
                means,
                total,
                lr,
                self._rate,
                self.elapsed,
                eta,
                _gpu_mb(self.device),
                progress=self.progress,
                iterations=read.iterations,
            )
        )
        self._window_t0 = time.time()
        self._window_images = 0
        if stop == _STOP_CANCEL or (self.world_size == 1 and self.cancel.cancelled):  # cancelled by a callback
            raise CancelledError()
        if stop == _STOP_TIME:
            self._epoch_means = self._epoch_loss_means()
            raise _TimeUp()

    def evaluate(self, epoch: int):
        """Val metrics of the weights being trained (the EMA when on); rank 0 only."""
        from studio.core.inference.val import evaluate_model  # deferred: cv2

        model = self.ema.module if self.ema is not None else _unwrap(self.model)
        return evaluate_model(
            model,
            self.val_set,
            self.val_split.dataset,
            self.class_map,
            device=self.device,
            batch_size=max(1, self.cfg.train.batch_size),
            workers=min(self.cfg.data.workers, 2),
            amp_dtype=self.amp_dtype,
            cancel=self.cancel,
        )

    @property
    def progress(self) -> float:
        """How far the run is, 0..1 (iterations, or time when the time limit is further along)."""
        return self.schedule.progress(self.global_iter, self.elapsed)

    def evaluate_now(self, epoch: int, final: bool) -> bool:
        """Evaluate at this epoch's end (:func:`~studio.core.training.budget.evaluation_due`)."""
        return evaluation_due(self.cfg.train, epoch, final, self.progress, self._evaluated_at)

    def _epoch_end(self, epoch: int, train_losses: dict, epoch_t0: float, final: bool) -> bool:
        """Evaluate, save, emit; returns True when early stopping says stop."""
        cfg = self.cfg.train
        metrics: dict = {}
        per_class: dict = {}
        metric = None
        is_best = False
        evaluated = None
        if self.val_set is not None and self.evaluate_now(epoch, final):
            self._evaluated_at = self.progress
            evaluated = self.evaluate(epoch)
            metrics = dict(evaluated.metrics)
            per_class = evaluated.per_class_arrays(self.class_map)
            metric = metrics.get(self.metric_name)
            metric = 0.0 if metric is None else float(metric)
            if self.best_metric is None or metric > self.best_metric:
                self.best_metric, self.best_epoch, is_best = metric, epoch, True
        self.last_metrics = metrics
        stop = False
        if cfg.patience and self.best_epoch is not None and epoch - self.best_epoch >= cfg.patience:
            stop = True
        if self.world_size > 1:
            stop = self._stop_flag(stop)
        self._save(epoch, is_best=is_best, finished=final or stop or epoch >= cfg.epochs)
        if is_best and evaluated is not None and self.is_main:
            evaluated.write_report(self.run_dir, self.class_map)
        self.emit(
            EpochEnd(
                epoch,
                cfg.epochs,
                train_losses,
                metrics,
                per_class,
                metric,
                self.best_metric,
                self.best_epoch,
                is_best,
                time.time() - epoch_t0,
                self.elapsed,
            )
        )
        self.epoch_done = epoch
        return stop

    def run(self) -> RunResult:
        """Set up, train, evaluate and checkpoint; raises StudioError on failure after emitting RunFailed."""
        self._t_start = time.time()
        self._resumed = False
        epoch = self.epoch_done
        try:
            self.setup()  # refuses bad configs and data before anything is written
            self.open_run_folder()
            self.emit(
                RunStarted(
                    str(self.run_dir),
                    self.cfg.model.arch,
                    self.spec.task,
                    self.class_map.names,
                    self.epoch_done,
                    self.cfg.train.epochs,
                    self.iters_per_epoch,
                    self.cfg.train.batch_size,
                    str(self.device),
                    self.world_size,
                    self._resumed,
                    self.metric_name,
                    self.cfg.train.time_limit or None,
                )
            )
            reason = "completed"
            for epoch in range(self.epoch_done + 1, self.cfg.train.epochs + 1):
                t0 = time.time()
                try:
                    losses = self.train_epoch(epoch)
                except _TimeUp:
                    self._epoch_end(epoch, self._epoch_means, t0, final=True)
                    reason = "time_limit"
                    self.message(f"time limit of {self.cfg.train.time_limit:.0f} s reached during epoch {epoch}")
                    break
                if self._epoch_end(epoch, losses, t0, final=False):
                    reason = "early_stopping"
                    self.message(
                        f"early stopping: no {self.metric_name} gain for {self.cfg.train.patience} epochs "
                        f"(best at epoch {self.best_epoch})"
                    )
                    break
            result = RunResult(
                self.run_dir, "finished", reason, self.epoch_done, self.best_metric, self.best_epoch, self.last_metrics
            )
            self.emit(
                RunFinished(
                    reason, self.epoch_done, self.best_metric, self.best_epoch, self.elapsed, dict(self.last_metrics)
                )
            )
            return result
        except CancelledError:
            path = None
            try:
                if self._owns_folder:
                    self._save(self.epoch_done, is_best=False, finished=False, partial=True)
                    path = str(self.run_dir / "last.pt")
                self.emit(RunCancelled(self.epoch_done + 1, self.global_iter, path))
            except BaseException as e:  # the last.pt of the cancel cannot be written (a full disk...)
                self._failed(e, epoch)
                raise e from None
            return RunResult(
                self.run_dir,
                "cancelled",
                "cancelled",
                self.epoch_done,
                self.best_metric,
                self.best_epoch,
                self.last_metrics,
            )
        except BaseException as e:
            self._failed(e, epoch)
            raise
        finally:
            self.close_run_folder()

    def _failed(self, e: BaseException, epoch: int) -> None:
        """Report a failure once: RunFailed with the one-line message (the traceback goes to the log)."""
        refused = (
            self._lock is not None and not self._lock.held
        )  # another process trains this folder: not ours to resume
        resumable = not refused and (self.run_dir / "last.pt").exists()
        self.emit(RunFailed(error_message(e), traceback.format_exc(), epoch, resumable))


def _gpu_mb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
