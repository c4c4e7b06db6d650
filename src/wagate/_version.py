"""The version of wagate."""

__version__ = "0.1.0"
