"""The metrics, one flat module each; importing this package registers them all."""

from smic.metrics import psnr  # noqa: F401
from smic.metrics import ssim  # noqa: F401
from smic.metrics import lpips  # noqa: F401
from smic.metrics import dists  # noqa: F401
from smic.metrics import deepwsd  # noqa: F401
from smic.metrics import ms_ssim  # noqa: F401
from smic.metrics import fsim  # noqa: F401
from smic.metrics import nlpd  # noqa: F401
from smic.metrics import pieapp  # noqa: F401
from smic.metrics import vif  # noqa: F401
from smic.metrics import mad  # noqa: F401
