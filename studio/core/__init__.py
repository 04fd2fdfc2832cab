"""Pure-Python core of Studio. Nothing under this package may import Qt (checked by import-linter)."""
