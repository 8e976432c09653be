"""The explorer: one interactive page of a learning-rate study (bokeh, imported only to build it)."""

from gdcore.explore._data import Explorer, explore

__all__ = ["Explorer", "explore"]
