"""Vigil: incident runbooks as executable pytest smoke and readiness checks."""

__version__ = "0.1.0"
