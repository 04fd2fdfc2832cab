"""Studio plugin: the Dataset summary panel (see panel.py and studio-plugin.toml)."""
