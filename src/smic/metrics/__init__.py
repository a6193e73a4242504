"""The metrics, one flat module each; importing this package registers them all."""

from smic.metrics import (
    deepwsd,  # noqa: F401
    dists,  # noqa: F401
    fsim,  # noqa: F401
    lpips,  # noqa: F401
    mad,  # noqa: F401
    ms_ssim,  # noqa: F401
    nlpd,  # noqa: F401
    pieapp,  # noqa: F401
    psnr,  # noqa: F401
    ssim,  # noqa: F401
    vif,  # noqa: F401
)
