"""UnpairedDataset: lengths, independent MRI draws, determinism, per-domain transforms, caching, workers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader
from monai.data import Dataset as MonaiDataset
from monai.transforms import Compose, Lambdad, RandGaussianNoised, RandLambdad

from medtranslate.data import UnpairedDataset

CT = [{"image": f"/data/ct{i}.png"} for i in range(5)]
MRI = [{"image": f"/data/mri{i}.png"} for i in range(8)]


def _index(path: str) -> int:
    return int("".join(c for c in path.rsplit("/", 1)[-1] if c.isdigit()))


def _pairs(ds: UnpairedDataset) -> list[tuple[int, int]]:
    return [(_index(ds[i]["ct_path"]), _index(ds[i]["mri_path"])) for i in range(len(ds))]


def test_lengths_and_ct_order():
    assert len(UnpairedDataset(CT, MRI)) == 8
    assert len(UnpairedDataset(CT, MRI, length="min")) == 5
    ds = UnpairedDataset(CT, MRI, length=12)
    assert len(ds) == 12
    assert [ct for ct, _ in _pairs(ds)] == [i % 5 for i in range(12)]
    assert all(0 <= mri < 8 for _, mri in _pairs(ds))
    with pytest.raises(IndexError):
        ds[12]
    for bad in ("all", 0, True):
        with pytest.raises(ValueError, match="length"):
            UnpairedDataset(CT, MRI, length=bad)
    with pytest.raises(ValueError, match="both domains"):
        UnpairedDataset(CT, [])


def test_mri_drawn_independently_of_ct_index():
    ds = UnpairedDataset(CT, MRI, length=400, seed=0)
    pairs = _pairs(ds)
    # the same CT is met with many MRIs, and the MRI index is not a function of the sample index
    partners = {ct: {mri for c, mri in pairs if c == ct} for ct in range(5)}
    assert all(len(p) >= 6 for p in partners.values())
    assert sum(mri == i % 8 for i, (_, mri) in enumerate(pairs)) < 100
    counts = Counter(mri for _, mri in pairs)
    assert set(counts) == set(range(8)) and max(counts.values()) < 80
    ds.set_epoch(1)
    assert _pairs(ds) != pairs  # new partners each epoch
    ds.set_epoch(0)
    assert _pairs(ds) == pairs  # a pure function of (seed, epoch, index)


def test_determinism_with_seed():
    a = _pairs(UnpairedDataset(CT, MRI, length=50, seed=7))
    assert a == _pairs(UnpairedDataset(CT, MRI, length=50, seed=7))
    assert a != _pairs(UnpairedDataset(CT, MRI, length=50, seed=8))
    ds = UnpairedDataset(CT, MRI, length=50, seed=8)
    ds.set_random_state(seed=7)
    assert _pairs(ds) == a
    ds.set_random_state(state=np.random.RandomState(3))
    assert _pairs(ds) == _pairs(UnpairedDataset(CT, MRI, length=50).set_random_state(state=np.random.RandomState(3)))


def test_each_transform_sees_only_its_domain():
    seen: dict[str, list] = {"ct": [], "mri": []}

    def make(domain: str):
        def transform(item: dict) -> dict:
            seen[domain].append(sorted(item))
            return {**item, domain: f"{domain}:{item[domain]}"}

        return transform

    ds = UnpairedDataset(
        [{"image": "a.png", "sha256": "x"}], ["m.png"], transform_ct=make("ct"), transform_mri=make("mri")
    )
    sample = ds[0]
    assert sample == {"ct": "ct:a.png", "ct_path": "a.png", "ct_sha256": "x", "mri": "mri:m.png", "mri_path": "m.png"}
    assert seen == {"ct": [["ct", "ct_path", "ct_sha256"]], "mri": [["mri", "mri_path"]]}

    # non-mapping results become the domain's value; clashing keys are refused
    assert UnpairedDataset(CT, MRI, transform_ct=lambda d: 1, transform_mri=lambda d: 2)[0] == {"ct": 1, "mri": 2}
    with pytest.raises(ValueError, match="both output"):
        UnpairedDataset(CT, MRI, transform_ct=lambda d: {"x": 1}, transform_mri=lambda d: {"x": 2})[0]


def test_cache_and_prepared_datasets():
    calls = Counter()

    def load(path: str) -> float:
        calls[path] += 1
        return float(_index(path))

    def pipeline(key: str) -> Compose:
        return Compose([Lambdad(keys=key, func=load), RandLambdad(keys=key, func=lambda x: x + 0.5)])

    ds = UnpairedDataset(CT, MRI, pipeline("ct"), pipeline("mri"), seed=1, cache_rate=1.0)
    assert isinstance(ds.ct, CacheDataset)
    assert sum(calls.values()) == 13  # the deterministic prefix ran once per item, at construction
    first = [ds[i]["ct"] for i in range(len(ds))]
    assert sum(calls.values()) == 13
    assert [int(v) for v in first] == [i % 5 for i in range(8)]

    # a prepared Dataset per domain is used as is, with the domain's transform on top
    prepared = MonaiDataset([{"ct": torch.zeros(1, 2, 2)}], transform=None)
    sample = UnpairedDataset(prepared, ["m.png"], transform_ct=Lambdad(keys="ct", func=lambda x: x + 1))[0]
    assert torch.equal(sample["ct"], torch.ones(1, 2, 2)) and sample["mri"] == "m.png"


def test_monai_dataloader_workers_reproducible():
    def run() -> list:
        torch.manual_seed(0)
        noise = Compose([Lambdad(keys="mri", func=lambda p: torch.zeros(1)), RandGaussianNoised(keys="mri", prob=1.0)])
        ds = UnpairedDataset(CT, MRI, transform_mri=noise)
        loader = DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
        return [(b["ct_path"], b["mri_path"], b["mri"].flatten().tolist()) for b in loader]

    first = run()
    assert first == run()
    values = [v for *_, batch in first for v in batch]
    assert len(set(values)) == len(values)  # the workers' random transforms do not repeat each other
