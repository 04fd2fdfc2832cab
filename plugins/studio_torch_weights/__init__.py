"""Studio plugin: the torch-weights export format (format.py declares it, exporter.py writes and verifies it)."""
