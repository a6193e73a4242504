"""The ``smic`` command."""

from smic.cli.main import build_parser, main, sample_pair

__all__ = ["build_parser", "main", "sample_pair"]
