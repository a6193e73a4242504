"""The SMIC authors' exact compositions (``variant="authors"``), kept apart from the clean metrics.

Everything here reproduces KANGX99/SMIC (smic-pytorch, commit 9f05235) number for number,
quirks included; see docs/METHOD.md of the project for the list.
"""

from smic.variants.authors import deepwsd, dists, lpips, psnr, ssim  # noqa: F401  (registers them)
