"""The quotaform command line: wires the declarations, the gate and the bridge together."""

__version__ = "0.1.0"

__all__ = ["__version__"]
