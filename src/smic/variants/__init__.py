"""The SMIC-enhanced forms of the metrics, picked by ``variant``: ``paper`` (the default: the
paper's equations on the official metric) and ``authors`` (the authors' code, number for number)."""

from smic.variants import authors, paper  # noqa: F401  (registers the authors' forms)
