"""Guards against known-bad Qt bindings that the dependency pin keeps out."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    progress = Signal(int, int, str)


def test_emitting_from_python_keeps_the_reference_count_of_true():
    # PySide6 6.12.0 returns True from SignalInstance.emit without taking a reference: every emit
    # lowers True's reference count by one until the interpreter aborts (bool_dealloc). Workers emit
    # progress many times a second, so a long training would crash the app. pyproject pins < 6.12.
    o = _Emitter()
    received = []
    o.progress.connect(lambda *a: received.append(a))
    before = sys.getrefcount(True)
    for i in range(200):
        o.plain.emit()
        o.progress.emit(i, 200, "x")
    assert sys.getrefcount(True) - before >= -2, "this PySide6 leaks references to True on emit: pin another version"
    assert len(received) == 200
