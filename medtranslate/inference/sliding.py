"""3D inference: a volume generator run over overlapping 3D patches, blended with Gaussian weights.

The CT (already windowed onto [-1, 1], in RAS as :func:`~medtranslate.inference.translate_image` passes it) is
resampled to the model's isotropic voxel size, translated patch by patch with MONAI's
:class:`~monai.inferers.SlidingWindowInferer` (``mode="gaussian"``: patch centres weigh most, so patch seams do
not show), resampled back onto the input's own grid (same shape and affine) and blanked outside the head as the
slice-wise translator does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from monai.data import MetaTensor
from monai.inferers import SlidingWindowInferer
from monai.transforms import Spacing, SpatialResample

from medtranslate.errors import DimensionError
from medtranslate.precision import autocast_dtype
from medtranslate.transforms.head import find_head

__all__ = ["VolumeTranslator"]


class VolumeTranslator:
    """Apply a 3D image-to-image network to a whole volume by sliding patches.

    Args:
        network: maps ``(B, 1, P, P, P)`` in [-1, 1] to the same shape (``G_A`` of a 3D model).
        patch_size: the side ``P`` of the training patches (voxels).
        spacing: the isotropic voxel size in mm the model was trained at.
        sw_batch_size: patches per forward pass.
        overlap: fraction of a patch shared with its neighbours.
        device: where the network runs; defaults to the network's device.
        amp: autocast in the device's native reduced precision (``None``: wherever there is one; ``False``:
            float32), as :class:`~medtranslate.inference.SliceTranslator`.
        background: value outside the head and of padding (the background of the [-1, 1] scale).
        progress: show a progress bar over the patches.
        head_crop: blank the output outside each axial slice's head (:func:`~medtranslate.transforms.head.find_head`
            of the input), as the slice-wise translator does.
    """

    def __init__(
        self,
        network: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
        patch_size: int = 32,
        spacing: float = 2.0,
        sw_batch_size: int = 1,
        overlap: float = 0.5,
        device: torch.device | str | None = None,
        amp: bool | None = None,
        background: float = -1.0,
        progress: bool = False,
        head_crop: bool = True,
    ) -> None:
        self.network = network
        if device is None and isinstance(network, torch.nn.Module):
            device = next(network.parameters()).device
        self.device = torch.device(device or "cpu")
        self.amp_dtype = autocast_dtype(self.device) if amp is not False else None
        self.amp = self.amp_dtype is not None
        self.image_size = patch_size
        self.spacing = float(spacing)
        self.sw_batch_size = sw_batch_size
        self.background = background
        self.progress = progress
        self.head_crop = head_crop
        self.inferer = SlidingWindowInferer(
            roi_size=(patch_size,) * 3,
            sw_batch_size=sw_batch_size,
            overlap=overlap,
            mode="gaussian",
            padding_mode="constant",
            cval=background,
            progress=progress,
        )

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
            return self.network(batch).float()

    def _head(self, volume: torch.Tensor) -> torch.Tensor:
        """Each axial slice's head mask of ``(1, X, Y, Z)``; a slice without a head is kept whole."""
        masks = []
        for z in range(volume.shape[-1]):
            head = find_head(volume[..., z])
            masks.append(np.ones(volume.shape[1:3], bool) if head is None else head)
        return torch.from_numpy(np.stack(masks, axis=-1))[None]

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> MetaTensor:
        """Translate ``image``: a ``(1, X, Y, Z)`` MetaTensor on [-1, 1] with its affine → the same grid and metadata.

        Raises:
            DimensionError: not a one-channel volume, or no affine.
        """
        source = getattr(image, "meta", {}).get("filename_or_obj", None)
        if image.ndim != 4 or image.shape[0] != 1:
            raise DimensionError(
                source, f"a 3D model translates (1, X, Y, Z) volumes, got shape {tuple(image.shape)} (2D slice?)"
            )
        if not isinstance(image, MetaTensor):
            raise DimensionError(source, "a 3D model needs the volume's affine (a MetaTensor) to resample it")
        plain = MetaTensor(image.as_tensor().float(), affine=image.affine)
        resampled = Spacing(pixdim=(self.spacing,) * 3, mode="bilinear", padding_mode="border")(plain)
        out = self.inferer(resampled.as_tensor()[None].to(self.device), self._run)[0].cpu()
        back = SpatialResample(mode="bilinear", padding_mode="border")(
            MetaTensor(out, affine=resampled.affine), dst_affine=image.affine, spatial_size=image.shape[1:]
        )
        result = back.as_tensor().float().clamp(-1.0, 1.0)
        if self.head_crop:
            result = torch.where(self._head(plain.as_tensor()), result, torch.tensor(self.background))
        return MetaTensor(result, meta=dict(image.meta), applied_operations=list(image.applied_operations))
