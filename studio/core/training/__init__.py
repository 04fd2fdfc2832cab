"""Training: typed events, the run log, checkpoints, schedules, EMA, pre-flight checks, the trainer, DDP."""
