"""Exceptions users can catch."""

__all__ = ["BackendUnavailable"]


class BackendUnavailable(ImportError):
    """A backend was asked for whose array library is not installed.

    The message names the extra to install, e.g. ``pip install "gdcore[jax]"``.
    """
