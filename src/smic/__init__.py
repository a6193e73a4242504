"""smic: full-reference image quality metrics pooled with SMIC attention."""

from smic import metrics  # noqa: F401  (registers every metric)
from smic.io import load_image
from smic.registry import create_metric, list_metrics

__version__ = "0.1.0"
__all__ = ["create_metric", "list_metrics", "load_image", "__version__"]
