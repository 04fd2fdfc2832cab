"""The trainer's terminal lines (``studio train`` and the Train page's log) and the duration format they use."""

import io

from studio.core.text import format_duration
from studio.core.training.console import ConsoleReporter
from studio.core.training.events import RunFinished


def test_format_duration():
    assert format_duration(0) == "0m00s"
    assert format_duration(-5) == "0m00s"
    assert format_duration(247.9) == "4m07s"
    assert format_duration(3599) == "59m59s"
    assert format_duration(3600) == "1h00m"
    assert format_duration(7500) == "2h05m"


def test_reporter_writes_the_finished_line():
    out = io.StringIO()
    ConsoleReporter(out=out)(RunFinished("completed", 12, 0.4321, 9, 3725.0, {}))
    assert out.getvalue() == "finished (completed) after 12 epochs in 1h02m, best 0.4321 at epoch 9\n"
