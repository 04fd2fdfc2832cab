"""Studio plugin: the CVAT for images 1.1 XML dataset format (see cvat_xml.py and studio-plugin.toml)."""
