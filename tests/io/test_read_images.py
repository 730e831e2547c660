"""PIL modes and magic-byte detection, NIfTI affine/dims/NaN, MetaImage geometry via SimpleITK."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from medtranslate.errors import CorruptFileError, DimensionError, GeometryError, NonFiniteError
from medtranslate.io import SniffingPILReader, load_image, sniff_format

W, H = 5, 3  # width (X) differs from height (Y) so any axis swap shows


def gray() -> np.ndarray:
    return (np.arange(H * W, dtype=np.uint8).reshape(H, W) * 10 + 5).astype(np.uint8)


def rgb() -> np.ndarray:
    g = gray()
    return np.stack([g, g + 1, g + 2], axis=-1)


def test_png_l_width_first(tmp_path, assert_unchanged):
    Image.fromarray(gray()).save(tmp_path / "g.png")
    with assert_unchanged(tmp_path):
        img = load_image(tmp_path / "g.png")
    assert img.shape == (1, W, H)
    np.testing.assert_array_equal(img[0].numpy(), gray().T)
    assert img.meta["pil_mode"] == "L" and img.meta["intensity_unit"] == "uint8"
    assert img.meta["source_format"] == "png" and img.meta["modality"] is None


def test_png_rgb_channel_first(tmp_path):
    Image.fromarray(rgb()).save(tmp_path / "c.png")
    img = load_image(tmp_path / "c.png")
    assert img.shape == (3, W, H)
    np.testing.assert_array_equal(img.numpy(), np.moveaxis(rgb(), -1, 0).transpose(0, 2, 1))


def test_png_rgba_alpha_composited_on_black(tmp_path):
    alpha = np.full((H, W), 255, np.uint8)
    alpha[0, :] = 0
    alpha[1, :] = 128
    Image.fromarray(np.dstack([rgb(), alpha]), "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    expected = np.rint(rgb().astype(np.float32) * (alpha[..., None] / 255.0))
    np.testing.assert_array_equal(img.numpy(), np.moveaxis(expected, -1, 0).transpose(0, 2, 1))
    assert img.meta["pil_mode"] == "RGBA" and img.shape[0] == 3


def test_png_la_becomes_l(tmp_path):
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, 0] = 0
    Image.fromarray(np.dstack([gray(), alpha]), "LA").save(tmp_path / "la.png")
    img = load_image(tmp_path / "la.png")
    expected = gray().astype(np.float32)
    expected[:, 0] = 0
    assert img.shape == (1, W, H) and img.meta["pil_mode"] == "LA"
    np.testing.assert_array_equal(img[0].numpy(), expected.T)


def test_png_palette_becomes_rgb(tmp_path):
    pal = Image.new("P", (W, H))
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    indices = np.zeros((H, W), np.uint8)
    indices[1, 2], indices[2, 4] = 1, 2
    pal.putdata(indices.ravel().tolist())
    pal.save(tmp_path / "p.png")
    img = load_image(tmp_path / "p.png")
    assert img.shape == (3, W, H) and img.meta["pil_mode"] == "P"
    assert img[:, 2, 1].tolist() == [255, 0, 0] and img[:, 4, 2].tolist() == [0, 0, 255]
    assert float(img.sum()) == 510


def test_png_16bit_kept(tmp_path):
    values = (np.arange(H * W, dtype=np.uint16).reshape(H, W) * 4000 + 3).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    img = load_image(tmp_path / "d.png")
    np.testing.assert_array_equal(img[0].numpy(), values.T.astype(np.float32))
    assert img.meta["intensity_unit"] == "uint16" and float(img.max()) == 56003


def test_png_bytes_named_jpg(tmp_path):
    Image.fromarray(gray()).save(tmp_path / "mri1.jpg", format="PNG")
    assert sniff_format(tmp_path / "mri1.jpg") == "png"
    img = load_image(tmp_path / "mri1.jpg")
    assert img.meta["source_format"] == "png"
    np.testing.assert_array_equal(img[0].numpy(), gray().T)  # lossless: it really was read as PNG


@pytest.mark.parametrize("fmt,name", [("BMP", "bmp"), ("TIFF", "tiff"), ("JPEG", "jpeg")])
def test_bmp_tiff_jpeg(tmp_path, fmt, name):
    flat = np.full((H, W), 120, np.uint8)
    Image.fromarray(flat).save(tmp_path / "x.img", format=fmt)
    img = load_image(tmp_path / "x.img")
    assert img.meta["source_format"] == name and img.shape == (1, W, H)
    np.testing.assert_allclose(img[0].numpy(), 120, atol=2)  # JPEG is lossy


def test_truncated_png_is_corrupt(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=r"t\.png: damaged or truncated png"):
        load_image(tmp_path / "t.png")


def test_pil_size_checked_before_decoding(tmp_path):
    Image.fromarray(np.zeros((40, 50), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(DimensionError, match="2000 voxels, over the limit of 100"):
        load_image(tmp_path / "big.png", max_voxels=100)
    assert SniffingPILReader().verify_suffix(tmp_path / "big.png")


def oblique_affine() -> np.ndarray:
    c, s = np.cos(0.3), np.sin(0.3)
    return np.array(
        [[0.9 * c, -1.1 * s, 0.1, -40.5], [0.9 * s, 1.1 * c, 0.0, 12.25], [0.0, 0.05, 2.5, 7.0], [0, 0, 0, 1]]
    )


def test_nifti_oblique_affine_exact(tmp_path, assert_unchanged):
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1000
    nib.save(nib.Nifti1Image(data, oblique_affine()), tmp_path / "v.nii.gz")
    with assert_unchanged(tmp_path):
        img = load_image(tmp_path / "v.nii.gz", spatial_ndim=3)
    assert img.shape == (1, 4, 5, 6) and img.meta["source_format"] == "nifti"
    np.testing.assert_array_equal(img[0].numpy(), data)
    np.testing.assert_allclose(img.affine.numpy(), nib.load(tmp_path / "v.nii.gz").affine, rtol=0, atol=1e-6)


def test_nifti_sform_kept_when_pixdim_disagrees(tmp_path):
    """nibabel's choice (the coded sform), not MONAI's header correction, which would swap in the qform."""
    img = nib.Nifti1Image(np.zeros((4, 5, 6), np.float32), np.diag([1.0, 1.0, 1.0, 1.0]))
    img.set_sform(oblique_affine(), code=2)  # pixdim (from the qform) stays 1, 1, 1
    nib.save(img, tmp_path / "v.nii")
    np.testing.assert_allclose(load_image(tmp_path / "v.nii").affine.numpy(), oblique_affine(), atol=1e-6)


def test_nifti_2d_and_single_slice(tmp_path):
    plane = np.arange(12, dtype=np.float32).reshape(3, 4)
    nib.save(nib.Nifti1Image(plane, np.eye(4)), tmp_path / "p.nii")
    assert load_image(tmp_path / "p.nii", spatial_ndim=2).shape == (1, 3, 4)
    nib.save(nib.Nifti1Image(plane[..., None], np.diag([2.0, 3.0, 4.0, 1.0])), tmp_path / "s.nii")
    squeezed = load_image(tmp_path / "s.nii", spatial_ndim=2)
    assert squeezed.shape == (1, 3, 4)
    np.testing.assert_array_equal(squeezed[0].numpy(), plane)
    np.testing.assert_allclose(squeezed.affine.numpy(), np.diag([2.0, 3.0, 1.0]))
    assert load_image(tmp_path / "s.nii", spatial_ndim=3).shape == (1, 3, 4, 1)


def test_nifti_4d_refused(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((3, 4, 5, 2), np.float32), np.eye(4)), tmp_path / "t.nii.gz")
    for ndim in (3, None):
        with pytest.raises(DimensionError, match=r"t\.nii\.gz: 4D data \(2 images of shape \(3, 4, 5\)\)"):
            load_image(tmp_path / "t.nii.gz", spatial_ndim=ndim)
    with pytest.raises(DimensionError, match="a 2D image is needed"):
        nib.save(nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), np.eye(4)), tmp_path / "v.nii")
        load_image(tmp_path / "v.nii", spatial_ndim=2)


def test_nifti_nan_refused_with_count(tmp_path):
    data = np.zeros((3, 4, 5), np.float32)
    data[0, 0, 0], data[1, 2, 3], data[2, 3, 4] = np.nan, np.inf, -np.inf
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "nan.nii")
    with pytest.raises(NonFiniteError, match=r"nan\.nii: 3 NaN/Inf value\(s\) among 60 voxels"):
        load_image(tmp_path / "nan.nii")


def test_nifti_huge_header_refused_before_reading(tmp_path):
    header = nib.Nifti1Header()
    header.set_data_shape((4096, 4096, 4096))
    header.set_data_dtype(np.int16)
    (tmp_path / "huge.nii").write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 64)  # data missing entirely
    with pytest.raises(DimensionError, match=r"huge\.nii: shape \(4096, 4096, 4096\) has 68719476736 voxels"):
        load_image(tmp_path / "huge.nii")


def test_nifti_truncated_data_is_corrupt(tmp_path):
    nib.save(nib.Nifti1Image(np.ones((8, 8, 8), np.float32), np.eye(4)), tmp_path / "c.nii.gz")
    data = (tmp_path / "c.nii.gz").read_bytes()
    (tmp_path / "c.nii.gz").write_bytes(data[: len(data) - 20])
    with pytest.raises(CorruptFileError, match=r"c\.nii\.gz"):
        load_image(tmp_path / "c.nii.gz")


def test_metaimage_geometry_round_trip(tmp_path, assert_unchanged):
    zyx = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 500  # SimpleITK's (Z, Y, X)
    image = sitk.GetImageFromArray(zyx)
    image.SetSpacing((0.5, 0.75, 2.0))
    image.SetOrigin((10.0, -20.0, 30.0))
    c, s = np.cos(0.2), np.sin(0.2)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    image.SetDirection(direction.ravel().tolist())
    sitk.WriteImage(image, str(tmp_path / "v.mha"))
    with assert_unchanged(tmp_path):
        img = load_image(tmp_path / "v.mha")
    assert img.shape == (1, 4, 3, 2) and img.meta["source_format"] == "metaimage"
    np.testing.assert_array_equal(img[0].numpy(), zyx.transpose(2, 1, 0))
    lps = np.eye(4)
    lps[:3, :3] = direction @ np.diag([0.5, 0.75, 2.0])
    lps[:3, 3] = (10.0, -20.0, 30.0)
    np.testing.assert_allclose(img.affine.numpy(), np.diag([-1, -1, 1, 1]) @ lps, atol=1e-9)
    np.testing.assert_allclose(img.meta["spacing"], [0.5, 0.75, 2.0])
    # the same geometry as nibabel reads it from an equivalent NIfTI written by SimpleITK
    sitk.WriteImage(image, str(tmp_path / "v.nii.gz"))
    np.testing.assert_allclose(load_image(tmp_path / "v.nii.gz").affine.numpy(), img.affine.numpy(), atol=1e-5)


@pytest.mark.parametrize("spacing", ["0 1 1", "-1 1 1", "nan 1 1"])
def test_metaimage_bad_spacing_refused(tmp_path, spacing):
    header = f"ObjectType = Image\nNDims = 3\nDimSize = 4 4 3\nElementSpacing = {spacing}\nElementType = MET_UCHAR\n"
    (tmp_path / "v.mha").write_bytes(f"{header}ElementDataFile = LOCAL\n".encode() + bytes(48))
    with pytest.raises(GeometryError, match=r"v\.mha: voxel sizes \(spacing\) \[.*\] must be finite and positive"):
        load_image(tmp_path / "v.mha")


def test_metaimage_damaged_is_corrupt(tmp_path):
    (tmp_path / "x.mhd").write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_SHORT\nElementDataFile = missing.raw\n"
    )
    with pytest.raises(CorruptFileError, match=r"x\.mhd: SimpleITK cannot read it"):
        load_image(tmp_path / "x.mhd")
