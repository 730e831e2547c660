"""The bad-input matrix through ``medtranslate info``: each input is converted correctly or refused in one line.

A refusal is exit status 1, nothing on stdout, exactly one stderr line ``error: <path>: <cause>`` and no
traceback (``--debug`` raises the :class:`~medtranslate.errors.MedTranslateError` instead); the input's bytes are
unchanged either way. ``docs/reliability.md`` lists every case with its outcome.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from medtranslate.cli import main
from medtranslate.errors import (
    CorruptFileError,
    DimensionError,
    EmptyInputError,
    GeometryError,
    InputError,
    MedTranslateError,
    MissingCodecError,
    MultipleSeriesError,
    NonFiniteError,
    UnsupportedFormatError,
)
from medtranslate.io import load_image

Maker = Callable[[Path, SimpleNamespace, pytest.MonkeyPatch], tuple[Path, list[str]]]


def _zero_byte(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "empty.nii.gz").write_bytes(b"")
    return d / "empty.nii.gz", []


def _truncated_dicom(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    data = b.dicom_slice(d / "full.dcm", 0.0).read_bytes()
    (d / "full.dcm").unlink()
    (d / "cut.dcm").write_bytes(data[: len(data) - 100])  # pixel data cut short
    return d / "cut.dcm", []


def _dicom_header_only(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    data = b.dicom_slice(d / "full.dcm", 0.0).read_bytes()
    (d / "full.dcm").unlink()
    (d / "head.dcm").write_bytes(data[:300])
    return d / "head.dcm", []


def _dicom_magic_then_garbage(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + bytes(range(256)) * 4)
    return d / "bad.dcm", []


def _garbage_named_dcm(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "x.dcm").write_bytes(np.random.default_rng(0).bytes(4000))
    return d / "x.dcm", []


def _text_named_nii(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "notes.nii").write_text("patient notes, not an image\n")
    return d / "notes.nii", []


def _structured_report(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.dicom_without_pixels(d / "sr.dcm", "1.2.840.10008.5.1.4.1.1.88.11", "SR"), []


def _rt_structure_set(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.dicom_without_pixels(d / "rs.dcm", "1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT"), []


def _folder_of_rtstruct(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "rt").mkdir()
    b.dicom_without_pixels(d / "rt" / "rs.dcm", "1.2.840.10008.5.1.4.1.1.481.3", "RTSTRUCT")
    return d / "rt", []


def _compressed_without_codec(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    source = b.dicom_slice(d / "raw.dcm", 0.0)
    b.rle_compressed(source, d / "rle.dcm")
    source.unlink()
    b.hide_decoders(mp)
    return d / "rle.dcm", []


def _unknown_series_uid(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    b.dicom_series(d / "two", [0.0, 1.0, 2.0], series_uid=b.series_a)
    b.dicom_series(d / "two", [10.0, 11.0], series_uid=b.series_b, prefix="MR", modality="MR")
    return d / "two", ["--series-uid", "9.9.9"]


def _slices_of_different_sizes(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    import pydicom

    folder = b.dicom_series(d / "s", [0.0, 1.0, 2.0])
    ds = pydicom.dcmread(folder / "IM0002.dcm")
    ds.Rows, ds.Columns = 5, 4
    ds.PixelData = np.zeros((5, 4), "<i2").tobytes()
    ds.save_as(folder / "IM0002.dcm")
    return folder, []


def _nifti_4d(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.nifti(d / "fmri.nii.gz", np.zeros((8, 8, 4, 3), np.float32)), []


def _nifti_nan(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    data = b.ct_volume()
    data[2, 3, 1], data[4, 4, 4] = np.nan, np.nan
    return b.nifti(d / "nan.nii.gz", data), []


def _nifti_inf(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    data = b.ct_volume()
    data[0, 0, 0], data[1, 1, 1] = np.inf, -np.inf
    return b.nifti(d / "inf.nii", data), []


def _nan_sform(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    srows = np.eye(4)[:3] * 0.9
    srows[0, 3] = np.nan
    return b.raw_nifti(d / "nan_sform.nii.gz", b.ct_volume(), srows, sform_code=1, qform_code=1), []


def _singular_sform(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    srows = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]])  # x and y columns parallel
    return b.raw_nifti(d / "singular.nii", b.ct_volume(), srows, sform_code=2), []


def _negative_pixdim(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.raw_nifti(d / "negative.nii", b.ct_volume(), qform_code=1, pixdim=(0.8, -0.8, 2.0)), []


def _zero_pixdim(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.raw_nifti(d / "zero.nii", b.ct_volume(), pixdim=(0.8, 0.8, 0.0)), []


def _nan_qform(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.raw_nifti(d / "nan_qform.nii", b.ct_volume(), qform_code=1, quaternion=(0.0, np.inf, 0.0)), []


def _dicom_geometry(spacing: list[float] | None, orientation: list[float] | None) -> Maker:
    def make(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
        import pydicom

        folder = b.dicom_series(d / "series", [0.0, 1.0, 2.0])
        for path in sorted(folder.iterdir()):
            ds = pydicom.dcmread(path)
            if spacing is not None:
                ds.PixelSpacing = spacing
            if orientation is not None:
                ds.ImageOrientationPatient = orientation
            ds.save_as(path)
        return folder, []

    return make


def _nifti_huge_header(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.huge_nifti_header(d / "huge.nii"), []


def _nifti1_huge_header(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return b.huge_nifti_header(d / "huge1.nii", side=32767), []


def _nifti_truncated(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    data = b.nifti(d / "whole.nii", b.ct_volume()).read_bytes()
    (d / "whole.nii").unlink()
    (d / "cut.nii").write_bytes(data[: len(data) // 2])
    return d / "cut.nii", []


def _png_truncated(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)).save(d / "whole.png")
    data = (d / "whole.png").read_bytes()
    (d / "whole.png").unlink()
    (d / "cut.png").write_bytes(data[: len(data) // 2])
    return d / "cut.png", []


def _missing_path(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    return d / "no_such_scan.nii.gz", []


def _folder_without_dicom(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    (d / "notes").mkdir()
    (d / "notes" / "readme.txt").write_text("no images here")
    return d / "notes", []


def _config_text_as_input(d: Path, b: SimpleNamespace, mp: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    marker = d.parent / "config_ran"
    (d / "train.json").write_text(json.dumps({"x": f"$__import__('pathlib').Path('{marker}').touch()"}))
    return d / "train.json", []


#: case id → (input maker, error class, regex the one-line message must match)
REFUSED: dict[str, tuple[Maker, type[MedTranslateError], str]] = {
    "zero_byte_file": (_zero_byte, EmptyInputError, r"empty \(0 bytes\)"),
    "truncated_dicom_pixels": (_truncated_dicom, CorruptFileError, r"truncated"),
    "truncated_dicom_header": (_dicom_header_only, CorruptFileError, r"truncated|damaged"),
    "dicom_magic_then_garbage": (_dicom_magic_then_garbage, CorruptFileError, r"damaged DICOM"),
    "garbage_named_dcm": (_garbage_named_dcm, UnsupportedFormatError, r"unknown format by content"),
    "text_named_nii": (_text_named_nii, UnsupportedFormatError, r"unknown format by content"),
    "dicom_structured_report": (_structured_report, InputError, r"without pixel data.*Basic Text SR"),
    "dicom_rt_structure_set": (_rt_structure_set, InputError, r"without pixel data.*RT Structure Set"),
    "folder_of_rtstruct_only": (_folder_of_rtstruct, InputError, r"none with pixel data"),
    "compressed_without_codec": (_compressed_without_codec, MissingCodecError, r"RLE.*pip install pylibjpeg"),
    "unknown_series_uid": (_unknown_series_uid, InputError, r"no series with SeriesInstanceUID 9\.9\.9"),
    "slices_of_different_sizes": (_slices_of_different_sizes, DimensionError, r"slices of different sizes"),
    "nifti_4d": (_nifti_4d, DimensionError, r"4D data \(3 images"),
    "nifti_nan": (_nifti_nan, NonFiniteError, r"2 NaN/Inf value"),
    "nifti_inf": (_nifti_inf, NonFiniteError, r"2 NaN/Inf value"),
    "nifti_nan_sform": (_nan_sform, GeometryError, r"the sform \(sform_code 1\) holds NaN/Inf"),
    "nifti_singular_sform": (_singular_sform, GeometryError, r"singular affine"),
    "nifti_negative_voxel_size": (_negative_pixdim, GeometryError, r"pixdim\[1:4\] = \[0\.8, -0\.8, 2\] must"),
    "nifti_zero_voxel_size": (_zero_pixdim, GeometryError, r"pixdim\[1:4\] = \[0\.8, 0\.8, 0\] must be finite"),
    "nifti_inf_qform": (_nan_qform, GeometryError, r"the qform holds NaN/Inf"),
    "dicom_nan_pixel_spacing": (_dicom_geometry(["nan", "0.8"], None), GeometryError, r"PixelSpacing \[nan, 0\.8\]"),
    "dicom_zero_pixel_spacing": (_dicom_geometry([0.0, 0.8], None), GeometryError, r"PixelSpacing \[0\.0, 0\.8\] must"),
    "dicom_negative_pixel_spacing": (_dicom_geometry([-0.8, 0.8], None), GeometryError, r"\[-0\.8, 0\.8\] must"),
    "dicom_zero_orientation": (_dicom_geometry(None, [0, 0, 0, 0, 1, 0]), GeometryError, r"zero-length or parallel"),
    "dicom_nan_orientation": (_dicom_geometry(None, [1, 0, 0, 0, "nan", 0]), GeometryError, r"hold NaN/Inf"),
    "nifti2_header_100000_cubed": (_nifti_huge_header, DimensionError, r"100000\) has \d+ voxels, over the limit"),
    "nifti1_header_32767_cubed": (_nifti1_huge_header, DimensionError, r"32767\) has \d+ voxels, over the limit"),
    "nifti_truncated": (_nifti_truncated, CorruptFileError, r"truncated or damaged NIfTI"),
    "png_truncated": (_png_truncated, CorruptFileError, r"damaged or truncated png"),
    "missing_path": (_missing_path, InputError, r"no such file or folder"),
    "folder_without_dicom": (_folder_without_dicom, EmptyInputError, r"no DICOM series"),
    "bundle_config_as_input": (_config_text_as_input, UnsupportedFormatError, r"unknown format by content"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_cli_refuses_in_one_line(
    case: str,
    tmp_path: Path,
    build: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable,
    assert_unchanged: Callable,
) -> None:
    make, error, reason = REFUSED[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    path, args = make(inputs, build, monkeypatch)
    with assert_unchanged(inputs):
        status, out, err = cli("info", *args, path)
        assert status == 1 and out == ""
        assert err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"error: {path}"), err
        assert re.search(reason, err), err
        with pytest.raises(error, match=reason):
            main(["--debug", "info", *args, str(path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing written, no config evaluated


def _info(cli: Callable, *args: object) -> dict:
    status, out, err = cli("info", "--json", *args)
    assert status == 0, err
    return json.loads(out)


def test_two_series_in_one_folder_listed_then_chosen(tmp_path: Path, build: SimpleNamespace, cli: Callable) -> None:
    build.dicom_series(tmp_path / "a", [0.0, 1.0, 2.0], series_uid=build.series_a)
    build.dicom_series(tmp_path / "a", [10.0, 11.0], series_uid=build.series_b, prefix="MR", modality="MR")
    listed = _info(cli, tmp_path / "a")
    assert [(s["series_uid"], s["n_slices"]) for s in listed["series"]] == [(build.series_a, 3), (build.series_b, 2)]
    assert "shape" not in listed  # nothing loaded without a choice
    chosen = _info(cli, tmp_path / "a", "--series-uid", build.series_b)
    assert chosen["modality"] == "MR" and chosen["shape"] == [10, 12, 2]
    with pytest.raises(MultipleSeriesError, match="2 series found"):  # the loader refuses to guess
        load_image(tmp_path / "a")


@pytest.mark.parametrize(
    ("zs", "warning"),
    [((0.0, 1.0, 2.0, 4.0, 5.0), "1 missing slice"), ((0.0, 1.0, 2.6, 3.6, 4.6), "inconsistent slice spacing")],
    ids=["missing_slice", "uneven_spacing"],
)
def test_gaps_between_slices_convert_with_a_warning(
    tmp_path: Path, build: SimpleNamespace, cli: Callable, zs: tuple[float, ...], warning: str
) -> None:
    build.dicom_series(tmp_path / "s", zs)
    with pytest.warns(UserWarning, match=warning):
        info = _info(cli, tmp_path / "s")
    assert info["shape"] == [10, 12, 5] and info["spacing"][2] == pytest.approx(1.0)  # the median step
    with pytest.raises(DimensionError, match=warning):
        load_image(tmp_path / "s", irregular_spacing="raise")


def test_gantry_tilt_and_oblique_series_keep_their_geometry(
    tmp_path: Path, build: SimpleNamespace, cli: Callable
) -> None:
    build.dicom_series(tmp_path / "tilt", [0.0, 1.0, 2.0, 3.0], dx=0.5)  # slices shifted along x: sheared
    tilt = load_image(tmp_path / "tilt")
    np.testing.assert_allclose(tilt.affine[:3, 2].numpy(), [-0.5, 0.0, 1.0], atol=1e-5)  # LPS→RAS flips x
    c, s = np.cos(0.3), np.sin(0.3)
    build.dicom_series(tmp_path / "oblique", [0.0, 1.0, 2.0], orientation=(c, s, 0, -s, c, 0))
    info = _info(cli, tmp_path / "oblique")
    assert info["shape"] == [10, 12, 3] and info["spacing"] == pytest.approx([0.8, 0.8, 1.0])


def test_2d_nifti_where_3d_is_needed(tmp_path: Path, build: SimpleNamespace, cli: Callable) -> None:
    path = build.nifti(tmp_path / "slice.nii.gz", np.zeros((8, 6), np.float32))
    assert _info(cli, path)["shape"] == [8, 6]  # info accepts 2D
    with pytest.raises(DimensionError, match=r"slice\.nii\.gz: 2D image of shape \(8, 6\), a 3D image is needed"):
        load_image(path, spatial_ndim=3)


def test_constant_image_converts_and_maps_to_minus_one(tmp_path: Path, build: SimpleNamespace, cli: Callable) -> None:
    from medtranslate.transforms import MRINormalize

    path = build.nifti(tmp_path / "flat.nii.gz", np.full((8, 8, 3), 7.0, np.float32))
    info = _info(cli, path)
    assert info["min"] == info["max"] == 7.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = MRINormalize()(load_image(path))
    assert any("constant image" in str(w.message) for w in caught)
    assert float(out.min()) == float(out.max()) == -1.0


def test_huge_header_refused_before_allocating(tmp_path: Path, build: SimpleNamespace) -> None:
    path = build.huge_nifti_header(tmp_path / "huge.nii")
    tracemalloc.start()
    try:
        with pytest.raises(DimensionError, match=r"\(100000, 100000, 100000\) has 1000000000000000 voxels"):
            load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # a header was read, not 4 PB of voxels


@pytest.mark.parametrize(
    ("name", "mode", "channels", "pil_mode"),
    [
        ("rgb.png", "RGB", 3, "RGB"),
        ("rgba.png", "RGBA", 3, "RGBA"),
        ("palette.png", "P", 3, "P"),
        ("deep.png", "I;16", 1, "I;16"),
        ("png_named.jpg", "L", 1, "L"),
        ("png_named.nii.gz", "L", 1, "L"),
        ("png_named.dcm", "L", 1, "L"),
    ],
)
def test_png_modes_and_wrong_extensions_convert(
    tmp_path: Path, cli: Callable, name: str, mode: str, channels: int, pil_mode: str
) -> None:
    rng = np.random.default_rng(0)
    if mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65535, (6, 8), dtype=np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).convert(mode)
    img.save(tmp_path / name, format="PNG")
    info = _info(cli, tmp_path / name)
    assert info["format"] == "png" and info["shape"] == [8, 6]
    assert info["channels"] == channels and info["pil_mode"] == pil_mode


def test_nifti_named_png_converts(tmp_path: Path, build: SimpleNamespace, cli: Callable) -> None:
    build.nifti(tmp_path / "scan.png", build.ct_volume())
    info = _info(cli, tmp_path / "scan.png")
    assert info["format"] == "nifti" and info["shape"] == [16, 16, 6] and info["modality_guess"] == "CT"


def test_several_paths_report_each_bad_one_and_keep_going(
    tmp_path: Path, build: SimpleNamespace, cli: Callable
) -> None:
    good = build.nifti(tmp_path / "good.nii.gz", build.ct_volume())
    (tmp_path / "empty.dcm").write_bytes(b"")
    status, out, err = cli("info", "--json", tmp_path / "empty.dcm", good, tmp_path / "gone.nii")
    assert status == 1
    assert json.loads(out)["path"] == str(good)
    assert err.splitlines() == [
        f"error: {tmp_path / 'empty.dcm'}: the file is empty (0 bytes)",
        f"error: {tmp_path / 'gone.nii'}: no such file or folder",
    ]


def test_real_process_non_utf8_and_spaces_in_paths(tmp_path: Path, build: SimpleNamespace) -> None:
    """A separate interpreter (real stdout/stderr encodings, no pytest capture): paths with spaces and bytes that
    are not UTF-8 work, and a bad input is one stderr line without a traceback."""
    folder = os.fsencode(tmp_path) + b"/scans \xe9t\xe9"
    os.mkdir(folder)
    good = folder + b"/t\xff1 head.nii.gz"
    build.nifti(Path(os.fsdecode(good)), build.ct_volume())
    empty = folder + b"/empty \xfe.dcm"
    with open(empty, "wb"):
        pass
    before = {name: Path(os.fsdecode(os.path.join(folder, name))).read_bytes() for name in os.listdir(folder)}
    result = subprocess.run(
        [sys.executable, "-m", "medtranslate.cli", "info", "--json", good, empty],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["shape"] == [16, 16, 6]
    lines = result.stderr.decode("utf-8", "backslashreplace").splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("the file is empty (0 bytes)")
    assert "\\udcfe.dcm" in lines[0]  # the undecodable byte is shown escaped, not a crash
    assert {name: Path(os.fsdecode(os.path.join(folder, name))).read_bytes() for name in os.listdir(folder)} == before
