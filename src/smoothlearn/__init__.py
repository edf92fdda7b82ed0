"""smoothlearn: learning from temporally smooth data streams."""

__version__ = "0.1.0"
