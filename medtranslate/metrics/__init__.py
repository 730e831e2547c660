"""Evaluation: paired metrics on registered pairs, unpaired distribution distances, the paper's protocol, baselines.

Every number a report prints carries its protocol: which images were compared, on which intensity scale,
inside which mask.
"""

from medtranslate.metrics.baselines import histogram_match, identity_baseline, inversion_histogram_baseline
from medtranslate.metrics.paired import MS_SSIM_MIN_SIDE, paired_metrics, symmetric_to_unit
from medtranslate.metrics.protocol import PAPER_PSNR_DB, paper_protocol, psnr
from medtranslate.metrics.registration import RegistrationResult, register_to
from medtranslate.metrics.unpaired import (
    bootstrap_ci,
    intensity_wasserstein,
    laplacian_pyramid,
    sliced_wasserstein_distance,
)
from medtranslate.metrics.volume import slice_flicker, through_plane_consistency, volume_metrics

__all__ = [
    "MS_SSIM_MIN_SIDE",
    "PAPER_PSNR_DB",
    "RegistrationResult",
    "bootstrap_ci",
    "histogram_match",
    "identity_baseline",
    "intensity_wasserstein",
    "inversion_histogram_baseline",
    "laplacian_pyramid",
    "paired_metrics",
    "paper_protocol",
    "psnr",
    "register_to",
    "slice_flicker",
    "sliced_wasserstein_distance",
    "symmetric_to_unit",
    "through_plane_consistency",
    "volume_metrics",
]
