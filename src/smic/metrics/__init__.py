"""The metrics, one flat module each; importing this package registers them all."""

from smic.metrics import psnr  # noqa: F401
from smic.metrics import ssim  # noqa: F401
