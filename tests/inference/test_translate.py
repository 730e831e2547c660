"""translate_path / translate_many: headers kept, documented scales, PNG/NIfTI-slice/DICOM exports, safety."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch
from PIL import Image

from medtranslate.errors import InputError, OutputExistsError
from medtranslate.inference import (
    find_inputs,
    input_stem,
    parse_exports,
    parse_slices,
    translate_many,
    translate_path,
)
from medtranslate.inference.volume import SliceTranslator
from medtranslate.io import write_dicom_series, write_png

ALL = ("nifti", "png", "nifti-slices", "dicom")


def _sitk_series(folder: Path) -> sitk.Image:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    assert len(ids) == 1, f"expected one series, found {ids}"
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), ids[0]))
    return reader.Execute()


def _assert_same_header(a: Path, b: Path) -> None:
    src, out = nib.load(a), nib.load(b)
    assert out.shape == src.shape
    np.testing.assert_allclose(out.affine, src.affine, atol=1e-5)
    np.testing.assert_allclose(out.header.get_zooms(), src.header.get_zooms(), atol=1e-5)
    assert nib.aff2axcodes(out.affine) == nib.aff2axcodes(src.affine)


@pytest.mark.parametrize("fixture", ["ct_nifti", "oblique_nifti"])
def test_nifti_keeps_the_input_header_and_documented_scale(
    request: pytest.FixtureRequest, tmp_path: Path, tiny_net: torch.nn.Module, assert_unchanged, fixture: str
) -> None:
    source = request.getfixturevalue(fixture)
    with assert_unchanged(source):
        (out,) = translate_path(source, tmp_path / "out", tiny_net, image_size=32)
    assert out.name == f"{input_stem(source)}_synthetic_mri.nii.gz"
    _assert_same_header(source, out)
    data = nib.load(out).get_fdata(dtype=np.float32)
    assert nib.load(out).get_data_dtype() == np.int16  # scaled: 0..32767 is [0, 1]
    assert (nib.load(out).dataobj.slope, nib.load(out).dataobj.inter) == pytest.approx((1 / 32767, 0.0))
    assert np.isfinite(data).all() and data.min() >= 0.0 and data.max() <= 1.0 and data.std() > 0


def test_orientation_round_trip_is_exact_for_an_identity_network(tmp_path: Path, oblique_nifti: Path) -> None:
    """With a network that returns its input, the output is the windowed input voxel for voxel (no flips)."""
    identity = torch.nn.Conv2d(1, 1, 1, bias=False)
    identity.weight.data.fill_(1.0)
    translator = SliceTranslator(identity, image_size=32, head_crop=False)  # geometry alone, no head crop
    (out,) = translate_path(oblique_nifti, tmp_path / "out", identity, window=(0.0, 4000.0), translator=translator)
    expected = np.clip(nib.load(oblique_nifti).get_fdata() / 4000.0 + 0.5, 0, 1)
    got = nib.load(out).get_fdata()
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99  # 32x28 → 32² and back blurs a little


def test_png_and_nifti_slices(tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module) -> None:
    written = translate_path(
        ct_nifti, tmp_path / "out", tiny_net, image_size=32, export="png,nifti-slices", bit_depth=16
    )
    png_dir, slices_dir = written
    names = [p.name for p in sorted(png_dir.iterdir())]
    assert names == [f"head_ct_synthetic_mri_z{k:03d}.png" for k in range(6)]
    first = np.asarray(Image.open(png_dir / names[0]))
    assert first.dtype == np.uint16 and first.shape == (28, 32)  # rows = Y, columns = X
    slices = sorted(slices_dir.iterdir())
    assert len(slices) == 6
    source = nib.load(ct_nifti)
    for k in (0, 5):
        one = nib.load(slices[k])
        assert one.shape == (32, 28, 1)
        np.testing.assert_allclose(one.affine[:3, 3], (source.affine @ [0, 0, k, 1])[:3], atol=1e-4)


def test_slice_range_writes_the_slab_in_place(tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module) -> None:
    full = nib.load(translate_path(ct_nifti, tmp_path / "full", tiny_net, image_size=32)[0])
    slab_dir = tmp_path / "slab"
    nifti, png_dir = translate_path(ct_nifti, slab_dir, tiny_net, image_size=32, export="nifti,png", slices="2:5")
    slab = nib.load(nifti)
    assert slab.shape == (32, 28, 3) and len(list(png_dir.iterdir())) == 3
    np.testing.assert_allclose(slab.affine[:3, 3], (full.affine @ [0, 0, 2, 1])[:3], atol=1e-5)
    np.testing.assert_allclose(slab.get_fdata(), full.get_fdata()[..., 2:5], atol=1e-5)  # slices are independent
    with pytest.raises(InputError, match="select no axial slice"):
        translate_path(ct_nifti, tmp_path / "none", tiny_net, image_size=32, slices="10:12")


def test_dicom_export_is_one_synthetic_series_with_source_geometry(
    tmp_path: Path, ct_dicom: Path, tiny_net: torch.nn.Module, assert_unchanged
) -> None:
    with assert_unchanged(ct_dicom):
        nifti, series = translate_path(ct_dicom, tmp_path / "out", tiny_net, image_size=32, export="nifti,dicom")
    assert nifti.name == "ct_series_synthetic_mri.nii.gz"
    source, output = _sitk_series(ct_dicom), _sitk_series(series)
    assert output.GetSize() == source.GetSize()
    np.testing.assert_allclose(output.GetOrigin(), source.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(output.GetSpacing(), source.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(output.GetDirection(), source.GetDirection(), atol=1e-4)
    values = sitk.GetArrayFromImage(output)
    assert values.min() >= 0 and values.max() <= 4095 and values.std() > 0
    files = sorted(series.iterdir())
    headers = [pydicom.dcmread(f) for f in files]
    src = pydicom.dcmread(next(ct_dicom.iterdir()))
    assert len({h.SeriesInstanceUID for h in headers}) == 1 and headers[0].SeriesInstanceUID != src.SeriesInstanceUID
    first = headers[0]
    assert first.Modality == "MR" and list(first.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "SYNTHETIC" in first.SeriesDescription and first.PatientName == "ANONYMOUS"
    assert first.StudyInstanceUID != src.StudyInstanceUID and "HEAD CT" not in str(first.get("StudyDescription", ""))
    assert first.pixel_array.dtype == np.uint16 and "RescaleSlope" not in first  # the MR Image IOD has no rescale


def test_patient_tags_copied_only_when_asked(tmp_path: Path, ct_dicom: Path, tiny_net: torch.nn.Module) -> None:
    (series,) = translate_path(
        ct_dicom, tmp_path / "out", tiny_net, image_size=32, export="dicom", copy_patient_tags=True
    )
    out = pydicom.dcmread(next(series.iterdir()))
    src = pydicom.dcmread(next(ct_dicom.iterdir()))
    assert out.PatientName == "DOE^JANE" and out.PatientID == "P-123"
    assert out.StudyInstanceUID == src.StudyInstanceUID and out.SeriesInstanceUID != src.SeriesInstanceUID
    assert "SYNTHETIC" in out.SeriesDescription


def test_two_dimensional_png_input(tmp_path: Path, tiny_net: torch.nn.Module) -> None:
    ramp = np.tile(np.linspace(0, 255, 40), (24, 1)).T.astype(np.uint8)  # (X=40, Y=24)
    source = write_png(ramp, tmp_path / "slice.png")
    nifti, png = translate_path(source, tmp_path / "out", tiny_net, image_size=32, export="nifti,png")
    assert png.name == "slice_synthetic_mri.png"
    assert np.asarray(Image.open(png)).shape == (24, 40)  # same picture size as the input
    assert nib.load(nifti).shape == (40, 24)


def test_outputs_are_never_overwritten_silently(
    tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module, assert_unchanged
) -> None:
    out_dir = tmp_path / "out"
    translate_path(ct_nifti, out_dir, tiny_net, image_size=32)
    stamp = (out_dir / "head_ct_synthetic_mri.nii.gz").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="already exists"):
        translate_path(ct_nifti, out_dir, tiny_net, image_size=32, export="png,nifti")
    assert not (out_dir / "head_ct_synthetic_mri_png").exists()  # checked before anything was written
    assert (out_dir / "head_ct_synthetic_mri.nii.gz").stat().st_mtime_ns == stamp
    translate_path(ct_nifti, out_dir, tiny_net, image_size=32, overwrite=True)


def test_an_input_is_never_written_over(tmp_path: Path, ct_nifti: Path, tiny_net: torch.nn.Module, assert_unchanged):
    """An input named like another input's output stays as it is, even with overwrite=True."""
    lookalike = ct_nifti.parent / "head_ct_synthetic_mri.nii.gz"
    lookalike.write_bytes(ct_nifti.read_bytes())
    with assert_unchanged(ct_nifti, lookalike):
        report = translate_many([ct_nifti, lookalike], ct_nifti.parent, tiny_net, image_size=32, overwrite=True)
    assert "refusing to write over or inside the input" in report.failures[ct_nifti]
    assert list(report.outputs) == [lookalike]


def test_output_inside_a_dicom_input_is_refused(tmp_path: Path, ct_dicom: Path, tiny_net: torch.nn.Module) -> None:
    with pytest.raises(OutputExistsError, match="input"):
        translate_path(ct_dicom, ct_dicom / "out", tiny_net, image_size=32, overwrite=True)
    assert not (ct_dicom / "out").exists()


def test_many_inputs_continue_past_a_bad_file(
    tmp_path: Path, ct_nifti: Path, oblique_nifti: Path, tiny_net: torch.nn.Module
) -> None:
    inputs = ct_nifti.parent
    (inputs / "broken.nii.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    (inputs / ".hidden.nii").write_bytes(b"ignored")
    report = translate_many(inputs, tmp_path / "out", tiny_net, image_size=32, export="nifti")
    assert not report.ok and list(report.failures) == [inputs / "broken.nii.gz"]
    assert "broken.nii.gz" in report.failures[inputs / "broken.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "head_ct_synthetic_mri.nii.gz",
        "oblique_ct_synthetic_mri.nii.gz",
    ]
    with pytest.raises(InputError, match="1 failed"):
        translate_many(inputs, tmp_path / "again", tiny_net, image_size=32, raise_on_failure=True)


def test_same_stem_inputs_do_not_overwrite_each_other(tmp_path: Path, ct_nifti: Path, tiny_net) -> None:
    twin = tmp_path / "other" / "head_ct.nii.gz"
    twin.parent.mkdir()
    twin.write_bytes(ct_nifti.read_bytes())
    report = translate_many([ct_nifti, twin], tmp_path / "out", tiny_net, image_size=32, overwrite=True)
    assert list(report.outputs) == [ct_nifti] and "same names" in report.failures[twin]


def test_mr_input_is_refused(tmp_path: Path, phantom, tiny_net: torch.nn.Module) -> None:
    folder = tmp_path / "mr"
    write_dicom_series(phantom.mri[None], folder, affine=phantom.affine, modality="MR")
    with pytest.raises(InputError, match="MR image"):
        translate_path(folder, tmp_path / "out", tiny_net, image_size=32)


def test_find_inputs(tmp_path: Path, ct_nifti: Path, ct_dicom: Path) -> None:
    assert find_inputs(tmp_path / "inputs") == [ct_dicom, ct_nifti]  # a DICOM folder is one input
    with pytest.raises(InputError, match="no such file"):
        find_inputs(tmp_path / "missing")


def test_option_parsing() -> None:
    assert parse_exports("png, nifti,png") == ("nifti", "png")
    with pytest.raises(InputError, match="unknown export jpeg"):
        parse_exports("nifti,jpeg")
    assert parse_slices("all") is None and parse_slices(None) is None
    assert parse_slices("3:7") == slice(3, 7) and parse_slices(":4") == slice(None, 4)
    assert parse_slices("5") == slice(5, 6) and parse_slices(range(1, 3)) == slice(1, 3)
    with pytest.raises(InputError, match="slices"):
        parse_slices("a:b")
    assert input_stem("x/sub.ject.nii.gz") == "sub.ject" and input_stem("x/series/") == "series"
