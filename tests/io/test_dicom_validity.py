"""Standards-valid derived DICOM: dciodvfy (dicom3tools) finds no error in exported slices, each slice references
its source slice and the series its source series, the MR Image IOD's value mapping replaces rescale attributes,
and dcm2niix reads the export as one volume with the CT's geometry (the tools' tests skip when absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import torch

from medtranslate import __version__
from medtranslate.inference import translate_path
from medtranslate.io import write_dicom_series
from medtranslate.networks import ResNetGenerator

ZS = [k * 2.5 for k in range(6)]
SOURCE_PURPOSE = ("121322", "DCM", "Source image for image processing operation")


@pytest.fixture(scope="module")
def net() -> ResNetGenerator:
    torch.manual_seed(0)
    return ResNetGenerator(channels=4, num_res_blocks=1).eval()


def _export(tmp_path: Path, ct_series, net, copy_patient_tags: bool) -> tuple[list[Path], list[Path]]:
    """The source CT files and the exported synthetic MRI files, both in slice order."""
    files = ct_series(tmp_path / "ct", ZS)
    (series,) = translate_path(
        tmp_path / "ct",
        tmp_path / "out",
        net,
        image_size=32,
        export="dicom",
        copy_patient_tags=copy_patient_tags,
        model="tiny test ResNetGenerator",
    )
    return files, sorted(series.iterdir())


def _dciodvfy(path: Path) -> str:
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian package dicom3tools) is not on PATH")
@pytest.mark.parametrize("copy_patient_tags", [False, True], ids=["new_study", "source_study"])
def test_dciodvfy_finds_no_error(tmp_path, ct_series, net, copy_patient_tags):
    _, written = _export(tmp_path, ct_series, net, copy_patient_tags)
    float_mr = write_dicom_series(np.linspace(0.0, 7.3, 4 * 5 * 3).reshape(4, 5, 3), tmp_path / "plain")
    for path in [*written, float_mr[0]]:
        report = _dciodvfy(path)
        assert "MRImage" in report  # the MR Image IOD was checked
        errors = [line for line in report.splitlines() if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"


@pytest.mark.parametrize("copy_patient_tags", [False, True], ids=["new_study", "source_study"])
def test_each_slice_references_its_source(tmp_path, ct_series, net, copy_patient_tags):
    files, written = _export(tmp_path, ct_series, net, copy_patient_tags)
    sources = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    for header, source in zip([pydicom.dcmread(f) for f in written], sources, strict=True):
        (item,) = header.SourceImageSequence
        assert (item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID) == (
            source.SOPClassUID,
            source.SOPInstanceUID,
        )
        (purpose,) = item.PurposeOfReferenceCodeSequence
        assert (purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning) == SOURCE_PURPOSE
        np.testing.assert_allclose(
            [float(v) for v in header.ImagePositionPatient], [float(v) for v in source.ImagePositionPatient], atol=1e-4
        )
        if copy_patient_tags:  # the source is in this study: Common Instance Reference lists its series here
            assert header.StudyInstanceUID == source.StudyInstanceUID
            (series,) = header.ReferencedSeriesSequence
        else:
            assert header.StudyInstanceUID != source.StudyInstanceUID and "ReferencedSeriesSequence" not in header
            (study,) = header.StudiesContainingOtherReferencedInstancesSequence
            assert study.StudyInstanceUID == source.StudyInstanceUID
            (series,) = study.ReferencedSeriesSequence
        assert series.SeriesInstanceUID == source.SeriesInstanceUID
        assert series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
        (related,) = header.RelatedSeriesSequence
        assert (related.StudyInstanceUID, related.SeriesInstanceUID) == (
            source.StudyInstanceUID,
            source.SeriesInstanceUID,
        )


def test_synthetic_mr_attributes(tmp_path, ct_series, net):
    _, written = _export(tmp_path, ct_series, net, False)
    header = pydicom.dcmread(written[0])
    assert (
        list(header.ImageType) == ["DERIVED", "SECONDARY", "OTHER"] and header.SOPClassUID == pydicom.uid.MRImageStorage
    )
    derivation = header.DerivationDescription
    assert "SYNTHETIC" in derivation and f"medtranslate {__version__}" in derivation
    assert "tiny test ResNetGenerator" in derivation and "not an acquisition" in derivation
    assert not {"RescaleSlope", "RescaleIntercept", "RescaleType", "Laterality"} & set(header.dir())
    mapping = header.RealWorldValueMappingSequence[0]
    assert float(mapping.RealWorldValueSlope) == pytest.approx(1 / 4095) and float(mapping.RealWorldValueIntercept) == 0
    assert header.pixel_array.max() <= 4095 and float(header.WindowCenter) == pytest.approx(2047.5)
    assert header.BurnedInAnnotation == "NO" and header.ImageLaterality == "U" and header.PatientName == "ANONYMOUS"
    assert header.PatientPosition == "HFS" and header.BodyPartExamined == "HEAD"  # how and what, not who


@pytest.mark.skipif(shutil.which("dcm2niix") is None, reason="dcm2niix is not on PATH")
def test_dcm2niix_reads_one_volume_with_the_ct_geometry(tmp_path, ct_series, net):
    _export(tmp_path, ct_series, net, False)
    volumes = {}
    for name, folder in (("ct", tmp_path / "ct"), ("mr", next((tmp_path / "out").glob("*_dicom")))):
        out = tmp_path / f"nii_{name}"
        out.mkdir()
        subprocess.run(
            ["dcm2niix", "-z", "n", "-f", name, "-o", str(out), str(folder)],
            capture_output=True,
            timeout=120,
            check=True,
        )
        (path,) = out.glob("*.nii")
        volumes[name] = nib.load(path)
    assert volumes["mr"].shape == volumes["ct"].shape == (32, 32, len(ZS))
    np.testing.assert_allclose(volumes["mr"].affine, volumes["ct"].affine, atol=1e-4)
