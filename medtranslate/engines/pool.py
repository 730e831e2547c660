"""History pool of generated images (Shrivastava et al. 2017), as CycleGAN uses it to update discriminators."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ImagePool"]


class ImagePool:
    """
    Buffer of previously generated images, CycleGAN's ``ImagePool``.

    While the pool holds fewer than ``pool_size`` images, every queried image is stored and returned as it is.
    Once full, each queried image is, with probability 1/2, swapped with a uniformly chosen stored image (the
    stored one is returned and the new one takes its place), and otherwise returned as it is.

    The random draws come from the pool's own CPU ``torch.Generator``, so they neither touch nor depend on the
    global RNG and never synchronise with an accelerator; :meth:`state_dict` holds the stored images and the
    generator state, so a resumed run draws exactly what an uninterrupted run would.

    Args:
        pool_size: number of images kept; ``0`` disables the pool (queries return their input).
        seed: seed of the pool's generator. ``None`` draws one from the global torch RNG (reproducible under
            ``monai.utils.set_determinism``).

    """

    def __init__(self, pool_size: int = 50, seed: int | None = None) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}.")
        self.pool_size = pool_size
        if seed is None:
            seed = int(torch.empty((), dtype=torch.int64).random_().item())
        self.generator = torch.Generator().manual_seed(seed)
        self.images: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """
        Return a batch of the same shape as ``images`` drawn from the history (see the class docstring).

        Args:
            images: batch-first tensor of generated images; it is detached before being stored.

        """
        images = images.detach()
        if self.pool_size == 0:
            return images
        n = images.shape[0]
        swap = torch.rand(n, generator=self.generator).tolist()
        index = torch.randint(0, self.pool_size, (n,), generator=self.generator).tolist()
        out = []
        for i, image in enumerate(images):
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif swap[i] > 0.5:
                stored = self.images[index[i]]
                self.images[index[i]] = image.clone()
                out.append(stored.to(device=image.device, dtype=image.dtype))
            else:
                out.append(image)
        return torch.stack(out, 0)

    def state_dict(self) -> dict[str, Any]:
        """Stored images (one stacked tensor, empty when the pool is empty), pool size and generator state."""
        stacked = torch.stack(self.images, 0) if self.images else torch.empty(0)
        return {"pool_size": self.pool_size, "images": stacked, "rng_state": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """
        Restore the pool from :meth:`state_dict`'s output.

        Raises:
            ValueError: when the stored pool size differs from this pool's.

        """
        if int(state_dict["pool_size"]) != self.pool_size:
            raise ValueError(f"pool size differs: saved {state_dict['pool_size']} vs this pool {self.pool_size}.")
        images = state_dict["images"]
        self.images = [] if images.numel() == 0 else [img.clone() for img in images.unbind(0)]
        self.generator.set_state(state_dict["rng_state"].cpu())
