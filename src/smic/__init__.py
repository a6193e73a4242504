"""smic: full-reference image quality metrics pooled with SMIC attention."""

from smic import metrics, variants  # noqa: F401  (registers every metric)
from smic.attention import attend, attention_map
from smic.io import load_image
from smic.kernels.mic import mic
from smic.registry import list_metrics
from smic.spec import MetricSpec, create_metric

__version__ = "0.1.0"
__all__ = ["MetricSpec", "__version__", "attend", "attention_map", "create_metric", "list_metrics", "load_image", "mic"]
