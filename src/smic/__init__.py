"""smic: full-reference image quality metrics pooled with SMIC attention."""

from smic import metrics, variants  # noqa: F401  (registers every metric)
from smic.attention import attend, attention_map
from smic.io import load_image
from smic.kernels.mic import mic
from smic.loss import loss
from smic.metrics.base import NotDifferentiableError
from smic.registry import list_metrics
from smic.spec import MetricSpec, create_metric

__version__ = "0.1.0"
__all__ = [
    "MetricSpec",
    "NotDifferentiableError",
    "__version__",
    "attend",
    "attention_map",
    "create_metric",
    "list_metrics",
    "load_image",
    "loss",
    "mic",
    "score_pairs",
]


def __getattr__(name: str) -> object:
    # the engine (sqlite store, tqdm) is imported on first use, not with every metric
    if name == "score_pairs":
        from smic.evaluation.scoring import score_pairs

        return score_pairs
    raise AttributeError(f"module 'smic' has no attribute {name!r}")
