"""Studio plugin: the XGrad-CAM and LayerCAM methods (see methods.py and studio-plugin.toml)."""
