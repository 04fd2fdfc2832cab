"""Studio plugin: the fcos_mobilenet_v3 architecture (see arch.py and studio-plugin.toml)."""
