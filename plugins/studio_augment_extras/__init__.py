"""Studio plugin: the grayscale and cutout augmentations (see augment.py and studio-plugin.toml)."""
