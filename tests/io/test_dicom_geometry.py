"""Geometry that travels with the image: the reader's DicomSource on the metadata, uneven series refused (or, on
request, DICOM slices at their true positions and NIfTI resampled evenly), mixed orientations and contradicting
SpacingBetweenSlices refused, tilted and oblique series written at their source positions."""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from medtranslate.cli import main
from medtranslate.errors import DimensionError, InputError
from medtranslate.inference import translate_path
from medtranslate.io import DicomSource, load_image
from medtranslate.networks import ResNetGenerator

STEP = 2.5
EVEN = [k * STEP for k in range(8)]
GAP = [z for k, z in enumerate(EVEN) if k not in (3, 4, 5)]  # three consecutive slices dropped


@pytest.fixture(scope="module")
def net() -> ResNetGenerator:
    torch.manual_seed(0)
    return ResNetGenerator(channels=4, num_res_blocks=1).eval()


def _positions(files) -> np.ndarray:
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    return np.array([[float(v) for v in h.ImagePositionPatient] for h in headers])


def _translate(folder: Path, out: Path, net, **kwargs) -> list[Path]:
    return translate_path(folder, out, net, image_size=32, export="nifti,dicom", **kwargs)


def test_reader_keeps_the_source_on_the_metadata(tmp_path, ct_series):
    files = ct_series(tmp_path / "s", EVEN, tilt=0.1)
    image = load_image(tmp_path / "s")
    source = DicomSource.from_meta(image.meta)
    np.testing.assert_allclose(source.positions, _positions(files), atol=1e-6)
    headers = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert source.sop_instance_uids == tuple(h.SOPInstanceUID for h in headers)
    assert source.files == tuple(str(f) for f in files) and source.series_uid == headers[0].SeriesInstanceUID
    assert source.header.PatientName == "DOE^JANE" and "PixelData" not in source.header
    assert source.even and source.spacing_issue == ""
    np.testing.assert_allclose(source.orientation, [1, 0, 0, 0, 1, 0])


def test_gap_refused_in_one_line_nothing_written(tmp_path, ct_series, net, capsys):
    files = ct_series(tmp_path / "s", GAP)
    model = tmp_path / "model.pt"
    torch.save(net.state_dict(), model)
    out = tmp_path / "out"
    args = ["translate", str(tmp_path / "s"), "-o", str(out), "--ckpt", str(model), "--export", "dicom,nifti"]
    assert main([*args, "--ngf", "4", "--n-blocks", "1", "--image-size", "32"]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "about 3 missing slice(s)" in errors[0]
    before, after = _positions(files[2:4])
    assert f"{files[2].name} at (-16, -16, {before[2]:g})" in errors[0] and f"at (-16, -16, {after[2]:g})" in errors[0]
    assert not out.exists() or not any(out.iterdir())


def test_gap_translated_on_request_from_the_cli(tmp_path, ct_series, net):
    files = ct_series(tmp_path / "s", GAP)
    model = tmp_path / "model.pt"
    torch.save(net.state_dict(), model)
    out = tmp_path / "out"
    args = ["translate", str(tmp_path / "s"), "-o", str(out), "--ckpt", str(model), "--export", "dicom"]
    with pytest.warns(UserWarning, match="missing slice"):
        code = main([*args, "--ngf", "4", "--n-blocks", "1", "--image-size", "32", "--allow-uneven-slices"])
    assert code == 0
    (series,) = out.iterdir()
    written = sorted(series.iterdir())
    np.testing.assert_allclose(_positions(written), _positions(files), atol=1e-4)
    assert "ResNetGenerator, weights model.pt" in pydicom.dcmread(written[0]).DerivationDescription


def test_gap_on_request_dicom_at_true_positions_nifti_even(tmp_path, ct_series, net):
    files = ct_series(tmp_path / "s", GAP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nifti, series = _translate(tmp_path / "s", tmp_path / "out", net, uneven_slices="resample")
    ours = [str(w.message) for w in caught if "missing slice" in str(w.message)]
    assert len(ours) == 1 and "resampled onto an even 2.5 mm grid" in ours[0]

    written = sorted(series.iterdir())
    np.testing.assert_allclose(_positions(written), _positions(files), atol=1e-4)
    headers = [pydicom.dcmread(f) for f in written]
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    assert [h.SourceImageSequence[0].ReferencedSOPInstanceUID for h in headers] == [s.SOPInstanceUID for s in sources]
    assert "SpacingBetweenSlices" not in headers[0]  # the positions are not evenly spaced

    volume = nib.load(nifti)
    assert volume.shape == (32, 32, len(EVEN))  # the even grid over the same extent
    np.testing.assert_allclose(volume.affine[:3, 2], [0, 0, STEP], atol=1e-6)
    np.testing.assert_allclose(volume.affine[:3, 3], [16, 16, -10], atol=1e-4)  # LPS (-16, -16) in RAS
    data = volume.get_fdata()
    dicom = np.stack([h.pixel_array.T / 4095.0 for h in headers], axis=-1)
    for m, z in enumerate(EVEN):  # each even slice: the source slices' blend at its position
        k = int(np.searchsorted(GAP, z, side="right")) - 1
        k = min(k, len(GAP) - 2)
        w = (z - GAP[k]) / (GAP[k + 1] - GAP[k])
        np.testing.assert_allclose(data[..., m], (1 - w) * dicom[..., k] + w * dicom[..., k + 1], atol=1.01 / 4095)


def test_mixed_orientations_refused(tmp_path, ct_series, net):
    c, s = np.cos(0.2), np.sin(0.2)
    files = ct_series(tmp_path / "s", EVEN, orientations={5: (c, s, 0.0, -s, c, 0.0)})
    with pytest.raises(InputError, match="different orientations") as info:
        _translate(tmp_path / "s", tmp_path / "out", net, uneven_slices="resample")
    assert files[5].name in str(info.value) and "(0.980067, 0.198669, 0, -0.198669, 0.980067, 0)" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_contradicting_spacing_refused_unless_asked(tmp_path, ct_series, net):
    ct_series(tmp_path / "s", EVEN, spacing_between_slices=3.0)
    with pytest.raises(DimensionError, match=r"SpacingBetweenSlices says 3 mm but the positions are 2\.5 mm apart"):
        _translate(tmp_path / "s", tmp_path / "out", net)
    assert not (tmp_path / "out").exists()
    with pytest.warns(UserWarning, match="SpacingBetweenSlices says 3 mm"):
        nifti, series = _translate(tmp_path / "s", tmp_path / "out", net, uneven_slices="resample")
    assert nib.load(nifti).shape[2] == len(EVEN)  # the positions are even: nothing to resample
    assert float(pydicom.dcmread(next(series.iterdir())).SpacingBetweenSlices) == pytest.approx(STEP)


def test_subset_of_a_series_and_thick_slices_are_normal(tmp_path, ct_series, net):
    """Every 4th slice of a 0.625 mm series keeps SpacingBetweenSlices 0.625 (the shared porcine CT); slices
    thicker than their spacing overlap: neither is a contradiction."""
    ct_series(tmp_path / "a", EVEN, spacing_between_slices=0.625, slice_thickness=0.625)
    ct_series(tmp_path / "b", EVEN, spacing_between_slices=STEP, slice_thickness=5.0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*(SpacingBetweenSlices|missing slice|spacing).*")
        for name in ("a", "b"):
            _translate(tmp_path / name, tmp_path / f"out_{name}", net)
    header = pydicom.dcmread(next((tmp_path / "out_b").glob("*_dicom/*.dcm")))
    assert float(header.SliceThickness) == 5.0  # the source slice's thickness


@pytest.mark.parametrize("kind", ["tilt", "oblique"])
def test_tilted_and_oblique_series_written_at_source_positions(tmp_path, ct_series, net, kind):
    c, s = np.cos(0.3), np.sin(0.3)
    options = {"tilt": 0.2} if kind == "tilt" else {"orientation": (c, s, 0.0, -s * 0.8, c * 0.8, 0.6)}
    files = ct_series(tmp_path / "s", EVEN, **options)
    _, series = _translate(tmp_path / "s", tmp_path / "out", net)
    written = sorted(series.iterdir())
    np.testing.assert_allclose(_positions(written), _positions(files), atol=1e-4)
    source = pydicom.dcmread(files[0], stop_before_pixels=True)
    first = pydicom.dcmread(written[0])
    np.testing.assert_allclose(
        [float(v) for v in first.ImageOrientationPatient], [float(v) for v in source.ImageOrientationPatient], atol=1e-6
    )
