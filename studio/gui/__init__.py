"""Qt desktop front end of Studio: windows, widgets and workers that run core jobs in threads.

Nothing here computes on data; widgets render and forward intent, workers call ``studio.core``.
"""
