"""Where inputs come from: discovery of files and folders, sources, splits."""

from corpus.sources.discover import InputItem, discover, parse_source

__all__ = ["InputItem", "discover", "parse_source"]
