"""The training loop reads no tensor on the host between log points, and its fp16 loss scaling is in order.

A stub model (two loss terms, no host reads of its own) replaces the real one after ``Trainer.setup``, so
every read counted here is the loop's. The GradScaler checks use a recording fake and torch's own CPU
GradScaler, so they run without a GPU.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from studio.core import checkpoint as ckpt_io
from studio.core.config.init import init_config
from studio.core.errors import CancelledError, StudioError
from studio.core.training import trainer as trainer_mod
from studio.core.training.events import IterationEnd
from studio.core.training.trainer import Trainer

READS = ("item", "__float__", "__bool__", "__int__", "__index__", "tolist", "cpu", "numpy")


class StubModel(nn.Module):
    """Two loss terms from one weight vector; ``nan_at`` makes one call's loss NaN, ``on_call`` runs first."""

    def __init__(self, nan_at: int | None = None, on_call=None):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(0.5, 1.5, 4))
        self.calls = 0
        self.nan_at = nan_at
        self.on_call = on_call
        self.seen: list[dict[str, torch.Tensor]] = []

    def forward(self, images, targets):
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        x = torch.stack([im.mean() for im in images]).mean()
        a = (self.w * x).pow(2).sum()
        if self.nan_at == self.calls:
            a = a * float("nan")
        losses = {"loss_a": a, "loss_b": self.w.abs().sum() * 0.1}
        self.seen.append({k: v.detach().clone() for k, v in losses.items()})
        return losses


@pytest.fixture
def trainer(demo, tmp_path):
    """A set-up Trainer (det_fast at 64 px on the demo set) with the stub model and SGD."""
    cfg = init_config(
        demo["train"].annotations,
        tmp_path / "c.yaml",
        arch="det_fast",
        overrides={
            "data": {"image_size": 64, "workers": 0, "cache": "none"},
            "train": {"batch_size": 2, "device": "cpu", "epochs": 2, "warmup_iters": 1, "ema": False},
        },
    )
    tr = Trainer(cfg, tmp_path / "run")
    tr.setup()
    tr.built = (tr.model, tr.optimizer, tr.peak_lrs)  # det_fast's, for a checkpoint that resumes
    tr._started = True  # events go straight to the callbacks (as after RunStarted)
    _use_stub(tr, StubModel())
    return tr


def _use_stub(tr: Trainer, model: StubModel) -> None:
    tr.model = model
    tr.optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    tr.peak_lrs = [0.01]


def _batches(n: int) -> list:
    g = torch.Generator().manual_seed(0)
    return [([torch.rand(3, 8, 8, generator=g) for _ in range(2)], [{}, {}]) for _ in range(n)]


def _count_reads(monkeypatch) -> dict[str, int]:
    counts = dict.fromkeys(READS, 0)
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, _name=name, **k):
            counts[_name] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return counts


def test_the_loop_reads_the_losses_once_per_log_interval(trainer, monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 1e9)  # the clock never decides: every LOG_MAX_ITERS
    monkeypatch.setattr(trainer_mod, "LOG_MAX_ITERS", 5)
    events: list[IterationEnd] = []
    trainer.callbacks = [events.append]
    counts = _count_reads(monkeypatch)
    means = trainer.train_epoch(1, batches=_batches(20))
    monkeypatch.undo()
    # read after the first iteration (the user sees a loss at once), then every 5, then the epoch's end
    assert [(e.iteration, e.iterations) for e in events] == [(1, 1), (6, 5), (11, 5), (16, 5), (20, 4)]
    assert sum(counts.values()) == counts["tolist"] == len(events), counts  # one read per log point, nothing else
    seen = trainer.model.seen
    for k in ("loss_a", "loss_b"):
        per_it = [float(s[k]) for s in seen]
        assert means[k] == pytest.approx(sum(per_it) / 20, rel=1e-5)  # the epoch means are exact
        assert events[1].losses[k] == pytest.approx(sum(per_it[1:6]) / 5, rel=1e-5)  # an event: its window's mean
    assert events[1].loss == pytest.approx(sum(events[1].losses.values()))
    assert events[-1].global_iter == 20 and trainer.global_iter == 20


def test_the_read_interval_follows_the_clock(trainer, monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 0.0)  # any measured time is past the interval
    events: list[IterationEnd] = []
    trainer.callbacks = [events.append]
    trainer.train_epoch(1, batches=_batches(4))
    assert [e.iteration for e in events] == [1, 2, 3, 4] and all(e.iterations == 1 for e in events)


def test_a_non_finite_loss_names_the_epoch_the_iterations_and_the_terms(trainer, monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 1e9)
    monkeypatch.setattr(trainer_mod, "LOG_MAX_ITERS", 5)
    _use_stub(trainer, StubModel(nan_at=8))
    with pytest.raises(StudioError) as e:
        trainer.train_epoch(3, batches=_batches(20))
    msg = str(e.value)
    assert "the loss became nan at epoch 3, iterations 7-11" in msg and "loss_a=nan" in msg and "loss_b=" in msg
    assert "lower train.lr" in msg
    assert trainer.model.calls == 11, "stopped at the log point that read it"


def test_cancel_stops_before_the_next_iteration(trainer, monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 1e9)
    monkeypatch.setattr(trainer_mod, "LOG_MAX_ITERS", 50)

    def cancel_at_3(call: int) -> None:
        if call == 3:
            trainer.cancel.cancel()  # as the app's Stop button, from another thread

    _use_stub(trainer, StubModel(on_call=cancel_at_3))
    with pytest.raises(CancelledError):
        trainer.train_epoch(1, batches=_batches(20))
    assert trainer.model.calls == 3 and trainer.global_iter == 3


def test_a_callback_that_cancels_stops_at_its_log_point(trainer):
    def cb(ev):
        if isinstance(ev, IterationEnd):
            trainer.cancel.cancel()

    trainer.callbacks = [cb]
    with pytest.raises(CancelledError):
        trainer.train_epoch(1, batches=_batches(10))
    assert trainer.model.calls == 1


def test_the_time_limit_ends_the_epoch_at_a_log_point_with_its_means(trainer, monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 1e9)
    monkeypatch.setattr(trainer_mod, "LOG_MAX_ITERS", 50)
    trainer.cfg.train.time_limit = 1e-6  # already up after the first iteration
    events: list[IterationEnd] = []
    trainer.callbacks = [events.append]
    with pytest.raises(trainer_mod._TimeUp):
        trainer.train_epoch(1, batches=_batches(10))
    assert [e.iteration for e in events] == [1] and set(trainer._epoch_means) == {"loss_a", "loss_b"}


# ---------------------------------------------------------------------- fp16 loss scaling


class RecordingScaler:
    """What the loop asks of a GradScaler, in order (a pass-through one, as torch's disabled scaler)."""

    def __init__(self):
        self.calls: list[str] = []

    def scale(self, loss):
        self.calls.append("scale")
        return loss

    def unscale_(self, optimizer):
        self.calls.append("unscale_")

    def step(self, optimizer):
        self.calls.append("step")
        optimizer.step()

    def update(self):
        self.calls.append("update")

    def is_enabled(self) -> bool:
        return True

    def state_dict(self) -> dict:
        return {"recorded": len(self.calls)}


def test_the_scaler_is_called_in_order_and_unscales_before_clipping(trainer, monkeypatch):
    scaler = RecordingScaler()
    trainer.scaler = scaler
    clipped: list[int] = []
    real_clip = torch.nn.utils.clip_grad_norm_

    def clip(params, max_norm, *a, **k):
        clipped.append(len(scaler.calls))
        return real_clip(params, max_norm, *a, **k)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    trainer.train_epoch(1, batches=_batches(3))
    assert scaler.calls == ["scale", "unscale_", "step", "update"] * 3
    assert clipped == [2, 6, 10], "clipping sees unscaled gradients: after unscale_, before step"
    assert trainer._payload(1, finished=False)["scaler"] == {"recorded": 12}


class InfGradOnce(torch.autograd.Function):
    """Identity whose backward returns inf on its ``at``-th call: an fp16 overflow with a finite loss."""

    calls = 0
    at = 2

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        InfGradOnce.calls += 1
        return g * float("inf") if InfGradOnce.calls == InfGradOnce.at else g


def test_inf_gradients_skip_the_step_and_lower_the_scale(trainer):
    model = StubModel()
    real_forward = model.forward

    def forward(images, targets):
        losses = real_forward(images, targets)
        losses["loss_a"] = InfGradOnce.apply(losses["loss_a"])
        return losses

    model.forward = forward
    _use_stub(trainer, model)
    InfGradOnce.calls = 0
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    weights: list[torch.Tensor] = []
    batches = _batches(3)
    for i in range(3):
        trainer.train_epoch(1, batches=batches[i : i + 1])
        weights.append(model.w.detach().clone())
    assert torch.equal(weights[0], weights[1]), "the overflowing step was skipped"
    assert not torch.equal(weights[1], weights[2]), "the next one was taken"
    assert trainer.scaler.get_scale() == 2.0**9  # halved by the overflow (growth comes after 2000 good steps)
    assert torch.isfinite(model.w).all()


def test_the_scaler_state_is_saved_and_restored_on_resume(trainer, tmp_path):
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**7)
    trainer.scaler.scale(torch.ones(()))  # the scaler's scale tensor exists once it has scaled a loss
    trainer.scaler.update(2.0**5)
    trainer.model, trainer.optimizer, trainer.peak_lrs = trainer.built
    path = ckpt_io.save(tmp_path / "last.pt", trainer._payload(1, finished=False))
    saved = ckpt_io.load(path).data["scaler"]
    assert saved["scale"] == 2.0**5

    resumed = Trainer(trainer.cfg, tmp_path / "run2", resume=path)
    resumed._make_scaler = lambda: torch.amp.GradScaler("cpu", init_scale=1.0)  # an fp16 run's scaler, on the CPU
    resumed.setup()
    assert resumed.scaler.get_scale() == 2.0**5


def test_only_fp16_scales_the_loss(trainer):
    assert not trainer._make_scaler().is_enabled()  # fp32: no scaling
    trainer.cfg.train.amp = "bf16"
    assert not trainer._make_scaler().is_enabled()  # bf16 has fp32's range
    assert trainer._payload(1, finished=False)["scaler"] is None
    trainer.device = torch.device("cuda")  # what an fp16 run on a GPU gets (building one needs no GPU)
    trainer.cfg.train.device = "cuda"
    trainer.cfg.train.amp = "fp16"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available. Disabling." on a machine without a GPU
        scaler = trainer._make_scaler()
    assert isinstance(scaler, torch.amp.GradScaler) and scaler._device == "cuda"


def test_in_ddp_a_rank_reads_when_rank_0_says_and_stops_when_it_says(trainer, monkeypatch):
    """Rank 1's view: the all-reduce (a sum) brings rank 0's next interval and stop reason with the other rank's
    losses; rank 1's own clock and token do not count (the all-reduce adds what rank 0 would contribute)."""
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 0.0)  # rank 1's own clock would read every iteration
    trainer.rank, trainer.world_size, trainer.is_main = 1, 2, False
    from_rank_0 = iter([(0, 3), (0, 4), (trainer_mod._STOP_CANCEL, 4)])  # (stop, every) at each log point
    at: list[int] = []
    events: list[IterationEnd] = []
    monkeypatch.setattr(trainer, "emit", events.append)  # what rank 0 would log

    def all_reduce(t, op=None):
        assert op == trainer_mod.dist.ReduceOp.SUM
        stop, every = next(from_rank_0)
        at.append(trainer.model.calls)
        assert t[0] == 0 and t[1] == 0, "a rank other than 0 has no say"
        t[0], t[1] = stop, every
        t[2:] *= 3  # rank 0's losses: twice this rank's

    monkeypatch.setattr(trainer_mod.dist, "all_reduce", all_reduce)
    with pytest.raises(CancelledError):
        trainer.train_epoch(1, batches=_batches(20))
    assert at == [1, 4, 8] and trainer.model.calls == 8
    seen = trainer.model.seen
    # the losses are the mean over the two ranks: (1 + 2) / 2 times this rank's own
    assert events[1].losses["loss_a"] == pytest.approx(1.5 * sum(float(x["loss_a"]) for x in seen[1:4]) / 3)


def test_in_ddp_a_bad_loss_on_another_rank_stops_every_rank(trainer, monkeypatch):
    trainer.rank, trainer.world_size, trainer.is_main = 0, 2, True

    def all_reduce(t, op=None):
        t[2] += float("nan")  # another rank's loss_a was not finite

    monkeypatch.setattr(trainer_mod.dist, "all_reduce", all_reduce)
    with pytest.raises(StudioError, match="the loss became nan at epoch 2, iteration 1 \\(loss_a=nan, loss_b="):
        trainer.train_epoch(2, batches=_batches(3))
    assert trainer.model.calls == 1
