"""Qt desktop front end of Studio: windows, widgets and workers that run core jobs in threads.

Nothing here computes on data; widgets render and forward intent, workers call ``studio.core``. The big
pages keep what they know and decide in a plain-Python state module beside them (no Qt: a contract in
pyproject.toml), which the page renders.
One package per page (``data``, ``editor``, ``config``, ``train``, ``inspect``, ``export``), what several
of them share in ``common``; ``app`` starts the window of ``main_window``.
"""
