"""SMIC attention: settings, projections, windows, the attention maps, and pooling with them."""

from smic.attention.maps import Attention, attention_from_features, attention_map, dependency_map, resize_linear
from smic.attention.pool import AttentionPool, attend
from smic.attention.projections import projection_weights
from smic.attention.settings import AUTHORS_SEED, AttentionSettings, Kind, Projection
from smic.attention.windows import patches, windows

__all__ = [
    "AUTHORS_SEED",
    "Attention",
    "AttentionPool",
    "AttentionSettings",
    "Kind",
    "Projection",
    "attend",
    "attention_from_features",
    "attention_map",
    "dependency_map",
    "patches",
    "projection_weights",
    "resize_linear",
    "windows",
]
