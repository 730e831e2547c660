"""Unpaired CT/MRI dataset: each sample holds one CT and one independently drawn MRI item."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.data import CacheDataset
from monai.data import Dataset as MonaiDataset
from monai.data.utils import set_rnd
from monai.transforms import Randomizable
from monai.utils import MAX_SEED
from torch.utils.data import Dataset

__all__ = ["UnpairedDataset"]


def _as_domain_item(item: Any, key: str) -> Any:
    """``path`` or ``{"image": path, "x": ...}`` → ``{key: path, f"{key}_path": path, f"{key}_x": ...}``.

    Other items (already keyed by the domain, tensors) are returned unchanged.
    """
    if isinstance(item, (str, os.PathLike)):
        return {key: item, f"{key}_path": os.fspath(item)}
    if isinstance(item, Mapping) and "image" in item and key not in item:
        out = {f"{key}_{k}": v for k, v in item.items() if k != "image"}
        out[key] = item["image"]
        if isinstance(item["image"], (str, os.PathLike)):
            out[f"{key}_path"] = os.fspath(item["image"])
        return out
    return item


class _DomainView(Dataset):
    """A per-domain dataset whose items come out keyed by the domain (``"ct"`` or ``"mri"``)."""

    def __init__(self, source: Dataset, key: str, transform: Callable | None) -> None:
        self.source = source
        self.key = key
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        item = _as_domain_item(self.source[index], self.key)
        return item if self.transform is None else self.transform(item)


def _domain_dataset(
    data: Sequence | Dataset, key: str, transform: Callable | None, cache_rate: float, cache_num_workers: int | None
) -> Dataset:
    if isinstance(data, Dataset):
        return _DomainView(data, key, transform)
    items = [_as_domain_item(item, key) for item in data]
    if cache_rate > 0:
        return CacheDataset(
            items, transform=transform, cache_rate=cache_rate, num_workers=cache_num_workers, progress=False
        )
    return MonaiDataset(items, transform=transform)


class UnpairedDataset(Dataset, Randomizable):
    """Unpaired CT (domain A) / MRI (domain B) samples, as CycleGAN's ``unaligned`` dataset draws them.

    Sample ``i`` is ``{"ct": ..., "mri": ..., "ct_path": ..., "mri_path": ...}``: the CT item is
    ``data_ct[i % len(data_ct)]`` and the MRI item is ``data_mri[j]`` with ``j`` drawn at random from its own RNG
    (CycleGAN's ``serial_batches=False``), so no CT is tied to an MRI. Each domain goes through its own transform
    only, which sees a dictionary keyed by its domain: a datalist item ``{"image": path}`` or a plain path becomes
    ``{"ct": path, "ct_path": path}`` (``"mri"`` likewise; other keys ``x`` of the item become ``"ct_x"``) before
    ``transform_ct`` runs, so MONAI dictionary transforms are built with ``keys="ct"`` and ``keys="mri"``. A
    transform that returns a mapping is merged into the sample (the two may not share keys); any other result
    becomes ``sample["ct"]`` (``sample["mri"]``).

    The MRI index of sample ``i`` is a pure function of (seed, epoch, ``i``): reproducible whatever the number of
    DataLoader workers, the order they serve indices in, or the sampler. Call :meth:`set_epoch` at the start of
    each epoch for new pairings (as with ``DistributedSampler``). :meth:`set_random_state` (called by MONAI's
    ``DataLoader`` with a seed per worker, and by ``__init__`` with ``seed``) sets the pairing seed and reseeds
    both domains' random transforms, each with its own seed.

    Each domain may be cached: pass ``cache_rate > 0`` to wrap each list in a :class:`monai.data.CacheDataset`,
    which caches the deterministic prefix of a ``Compose`` (loading, intensity scaling) up to its first random
    transform, or pass a ready ``Dataset`` per domain (its items are then fed to the domain's transform, if any).

    Args:
        data_ct: CT items (paths, datalist dicts such as ``load_datalist(...)["ct"]``) or a ``Dataset``.
        data_mri: MRI items or a ``Dataset``, as ``data_ct``.
        transform_ct: transform of each CT item; ``None`` leaves the item as it is.
        transform_mri: transform of each MRI item; ``None`` leaves the item as it is.
        length: ``"max"`` (default, as CycleGAN: every item of the larger domain is visited once per epoch),
            ``"min"``, or a number of samples per epoch.
        seed: seed of the MRI draws and of the domains' random transforms.
        cache_rate: fraction of each list cached by a ``CacheDataset`` (0: no cache; ignored for ``Dataset``
            inputs).
        cache_num_workers: threads that fill the caches.

    Raises:
        ValueError: a domain is empty or ``length`` is not ``"max"``, ``"min"`` or a positive integer.
    """

    def __init__(
        self,
        data_ct: Sequence | Dataset,
        data_mri: Sequence | Dataset,
        transform_ct: Callable | None = None,
        transform_mri: Callable | None = None,
        length: str | int = "max",
        seed: int = 0,
        cache_rate: float = 0.0,
        cache_num_workers: int | None = 1,
    ) -> None:
        self.ct = _domain_dataset(data_ct, "ct", transform_ct, cache_rate, cache_num_workers)
        self.mri = _domain_dataset(data_mri, "mri", transform_mri, cache_rate, cache_num_workers)
        self.len_ct, self.len_mri = len(self.ct), len(self.mri)  # type: ignore[arg-type]
        if self.len_ct == 0 or self.len_mri == 0:
            raise ValueError(f"both domains need items, got {self.len_ct} CT and {self.len_mri} MRI")
        if length == "max":
            self.length = max(self.len_ct, self.len_mri)
        elif length == "min":
            self.length = min(self.len_ct, self.len_mri)
        elif isinstance(length, (int, np.integer)) and not isinstance(length, bool) and length > 0:
            self.length = int(length)
        else:
            raise ValueError(f"length must be 'max', 'min' or a positive integer, got {length!r}")
        self.epoch = 0
        self.pair_seed = 0
        self.set_random_state(seed=seed)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None) -> UnpairedDataset:
        """Set the pairing seed and reseed both domains' random transforms (see :class:`Randomizable`).

        Args:
            seed: an integer seed.
            state: a ``np.random.RandomState`` to draw the seeds from (used when ``seed`` is None).
        """
        super().set_random_state(seed=seed, state=state)
        self.pair_seed, seed_ct, seed_mri = (int(s) for s in self.R.randint(MAX_SEED, size=3))
        set_rnd(self.ct, seed_ct)
        set_rnd(self.mri, seed_mri)
        return self

    def set_epoch(self, epoch: int) -> None:
        """Use the pairings of ``epoch`` (each epoch draws new MRI partners).

        Args:
            epoch: the epoch number.
        """
        self.epoch = int(epoch)

    def randomize(self, data: int) -> None:
        """Draw the MRI index of sample ``data`` into ``self._mri_index``.

        Args:
            data: the sample index.
        """
        rng = np.random.default_rng([self.pair_seed, self.epoch, int(data)])
        self._mri_index = int(rng.integers(self.len_mri))

    def pair_indices(self, index: int) -> tuple[int, int]:
        """The (CT, MRI) item indices of sample ``index`` in the current epoch.

        Args:
            index: the sample index, ``0 <= index < len(self)``.
        """
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} samples")
        self.randomize(index)
        return index % self.len_ct, self._mri_index

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        ct_index, mri_index = self.pair_indices(int(index))
        sample: dict[str, Any] = {}
        for key, item in (("ct", self.ct[ct_index]), ("mri", self.mri[mri_index])):
            if not isinstance(item, Mapping):
                sample[key] = item
                continue
            if clash := sorted(set(sample) & set(item)):
                raise ValueError(f"the CT and MRI transforms both output the keys {clash}; prefix them by domain")
            sample.update(item)
        return sample
