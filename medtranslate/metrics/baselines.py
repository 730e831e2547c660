"""Reference translations without a CycleGAN, reported beside it so a number can be judged.

- :func:`identity_baseline`: the CT itself, taken as the MRI (what "doing nothing" scores).
- :func:`inversion_histogram_baseline`: the CT's intensities inverted (bone bright → dark, as in T1) and
  histogram-matched, inside the head, to a set of real MRI slices.
"""

from __future__ import annotations

import torch

__all__ = ["histogram_match", "identity_baseline", "inversion_histogram_baseline"]


def identity_baseline(ct: torch.Tensor) -> torch.Tensor:
    """The CT slice on [-1, 1], unchanged, as a 'synthetic MRI'."""
    return torch.as_tensor(ct).float().clone()


def histogram_match(
    source: torch.Tensor, reference: torch.Tensor, threshold: float = -0.9, n_quantiles: int = 256
) -> torch.Tensor:
    """Map ``source`` values above ``threshold`` so their distribution matches ``reference``'s (above it too).

    Values at or below ``threshold`` (background for images in [-1, 1]) are left as they are.
    """
    source = torch.as_tensor(source).float()
    reference = torch.as_tensor(reference).float().flatten()
    ref = reference[reference > threshold]
    out = source.clone()
    fg = source > threshold
    if not fg.any() or ref.numel() == 0:
        return out
    q = torch.linspace(0, 1, n_quantiles)
    src_q = torch.quantile(source[fg][:: max(1, int(fg.sum()) // 1_000_000)], q)
    ref_q = torch.quantile(ref[:: max(1, ref.numel() // 1_000_000)], q)
    idx = torch.searchsorted(src_q.contiguous(), source[fg].contiguous()).clamp(1, n_quantiles - 1)
    lo, hi = src_q[idx - 1], src_q[idx]
    frac = ((source[fg] - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)
    out[fg] = ref_q[idx - 1] + frac * (ref_q[idx] - ref_q[idx - 1])
    return out


def inversion_histogram_baseline(
    ct: torch.Tensor, mri_reference: torch.Tensor, threshold: float = -0.9
) -> torch.Tensor:
    """Invert the CT inside the head (``-x``), then histogram-match it to ``mri_reference``.

    Args:
        ct: CT slices on [-1, 1] with background -1.
        mri_reference: real MRI slices on [-1, 1] (any number, unpaired).
        threshold: values above it are the head; the background stays -1.
    """
    ct = torch.as_tensor(ct).float()
    head = ct > threshold
    inverted = torch.where(head, -ct, ct)
    # keep the inverted head above the background threshold before matching
    inverted = torch.where(head, inverted.clamp_min(threshold + 1e-3), inverted)
    return histogram_match(inverted, mri_reference, threshold=threshold)
