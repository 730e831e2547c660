"""Head crop: headrest/text blanked, square box with margin, inverse placement, and training == inference."""

from __future__ import annotations

import numpy as np
import torch
from monai.data import MetaTensor
from PIL import Image

from medtranslate.inference import translate_image
from medtranslate.inference.volume import SliceTranslator
from medtranslate.io import LoadMedicalImaged
from medtranslate.transforms import (
    HeadCrop,
    HeadCropd,
    crop_head,
    ct_transforms,
    find_head,
    uncrop_head,
)


def _head_with_headrest(shape: tuple[int, int] = (96, 80)) -> torch.Tensor:
    """A (1, X, Y) slice on [-1, 1]: an elliptic head, a headrest bar below it, a text block in a corner."""
    x, y = torch.meshgrid(torch.arange(shape[0]), torch.arange(shape[1]), indexing="ij")
    head = ((x - 40) / 28) ** 2 + ((y - 40) / 24) ** 2 <= 1
    img = torch.full(shape, -1.0)
    img[head] = 0.2
    img[head & ((((x - 40) / 24) ** 2 + ((y - 40) / 20) ** 2) > 1)] = 0.9  # skull ring
    img[76:80, 10:70] = 0.0  # headrest, separate from the head
    img[2:6, 66:78] = 1.0  # text
    return img[None]


def test_crop_blanks_headrest_and_text_and_centres_the_head() -> None:
    img = _head_with_headrest()
    crop, box, mask = crop_head(img, 32)
    assert crop.shape == (1, 32, 32) and mask is not None
    assert not mask[76:80].any() and not mask[2:6, 66:78].any() and mask[40, 40]
    rows = np.flatnonzero(mask.any(1))
    extent = rows[-1] - rows[0] + 1  # the head's larger side (rows), rim included
    assert box.side == int(np.ceil(extent * 1.08)) and box.shape == (96, 80)
    assert abs(box.x0 + box.side / 2 - 40.5) <= 1 and abs(box.y0 + box.side / 2 - 40.5) <= 1
    assert crop[0, 0].max() < -0.99 and crop[0, -1].max() < -0.99  # margin rows are background


def test_uncrop_puts_the_output_back_on_the_slice_grid() -> None:
    img = _head_with_headrest()
    crop, box, mask = crop_head(img, 64)
    back = uncrop_head(crop, box, mask)
    assert back.shape == img.shape
    assert (back[0, 76:80] == -1).all()  # the headrest is gone from the output
    head = torch.from_numpy(find_head(img))
    assert (back - img).abs()[0][head].mean() < 0.05  # 62 → 64 → 62 px resampling only


def test_grey_frame_falls_back_to_otsu() -> None:
    img = _head_with_headrest()
    img[img == -1.0] = -0.6  # a screenshot's grey background: everything is above the fixed level
    mask = find_head(img)
    assert mask is not None and not mask[0].any() and mask[40, 40]


def test_empty_slice_uses_the_whole_slice() -> None:
    crop, box, mask = crop_head(torch.full((1, 20, 10), -1.0), 16)
    assert mask is None and box.side == 20 and crop.shape == (1, 16, 16)
    assert torch.allclose(crop, torch.tensor(-1.0), atol=1e-6)


def test_metatensor_affine_follows_the_crop() -> None:
    img = MetaTensor(_head_with_headrest(), affine=torch.diag(torch.tensor([0.5, 0.5, 1.0, 1.0], dtype=torch.float64)))
    out = HeadCrop(31)(img)
    x0, y0, side, *_ = out.meta["head_box"]
    k = side / 31
    centre = out.affine @ torch.tensor([15.0, 15.0, 0.0, 1.0], dtype=torch.float64)  # the crop's centre pixel
    np.testing.assert_allclose(centre[:2].numpy(), [0.5 * (x0 - 0.5 + 15.5 * k), 0.5 * (y0 - 0.5 + 15.5 * k)])


def test_joint_crop_keeps_a_pair_aligned() -> None:
    ct = _head_with_headrest()
    mri = -ct  # voxel-aligned partner with a different contrast
    out = HeadCropd(("ct", "mri"), spatial_size=32, joint=True, blank=False)({"ct": ct, "mri": mri})
    assert torch.allclose(out["mri"], -out["ct"], atol=1e-6)


def test_training_and_inference_give_the_same_tensor(tmp_path) -> None:
    """The training pipeline (no augmentation) and the translator feed the network the same crop of a slice."""
    rng = np.random.default_rng(0)
    pixels = (((_head_with_headrest()[0].numpy() + 1) * 127.5) + rng.normal(0, 3, (96, 80))).clip(0, 255)
    path = tmp_path / "ct.png"
    Image.fromarray(pixels.astype(np.uint8).T).save(path)  # PIL is (width, height): X is the width
    training = ct_transforms("ct", image_size=32, augment=False, volume=False, track_meta=False)
    loaded = LoadMedicalImaged("ct")({"ct": str(path)})
    trained_on = training(dict(loaded))["ct"]

    seen: list[torch.Tensor] = []

    def network(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.clone())
        return x

    translate_image(loaded["ct"], SliceTranslator(network, image_size=32, amp=False))
    assert len(seen) == 1 and torch.equal(seen[0][0], torch.as_tensor(trained_on))
