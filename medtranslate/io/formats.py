"""Detect an image file's format from its bytes, never from its name.

The Kaggle MRI half stores PNG bytes under ``.jpg`` names, so every reader in :mod:`medtranslate.io` picks
its input by content. The names returned here are the values of the ``source_format`` metadata key.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import zlib
from pathlib import Path

from medtranslate.errors import EmptyInputError, InputError, UnsupportedFormatError

__all__ = ["IMAGE_FORMATS", "SITK_FORMATS", "VOLUME_FORMATS", "sniff_format"]

#: 2D image formats read by :class:`~medtranslate.io.readers.SniffingPILReader`.
IMAGE_FORMATS = ("png", "jpeg", "bmp", "tiff")
#: formats read by :class:`~medtranslate.io.readers.SimpleITKReader`.
SITK_FORMATS = ("metaimage", "nrrd")
#: formats whose pixel values are not colours: more than one channel means a 4D file.
VOLUME_FORMATS = ("dicom", "nifti", *SITK_FORMATS)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"BM", "bmp"),
    (b"NRRD", "nrrd"),
)
_METAIMAGE = re.compile(rb"\s*(ObjectType|NDims|Comment|ObjectSubType)\s*=")


def _is_nifti_header(head: bytes) -> bool:
    """Whether ``head`` (the first bytes, decompressed) starts a NIfTI-1 or NIfTI-2 header (either endianness)."""
    if len(head) >= 348 and head[344:347] in (b"n+1", b"ni1"):
        return struct.unpack("<i", head[:4])[0] == 348 or struct.unpack(">i", head[:4])[0] == 348
    return len(head) >= 8 and head[4:7] in (b"n+2", b"ni2")


def _is_dicom_file(head: bytes) -> bool:
    """Part-10 files have ``DICM`` at byte 128; raw (preamble-less) data sets start with group 0002 or 0008."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00") and head[3:4] == b"\x00"


def _sniff_file(path: Path) -> str | None:
    """Format name of one non-empty file, or ``None`` when no reader here knows the bytes."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if len(head) >= 132 and head[128:132] == b"DICM":  # first: a DICOM preamble may hold a TIFF header
        return "dicom"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if _is_dicom_file(head):
        return "dicom"
    if _is_nifti_header(head):
        return "nifti"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as g:
                inner = g.read(540)
        except (OSError, EOFError, zlib.error):
            return None
        return "nifti" if _is_nifti_header(inner) else None
    if _METAIMAGE.match(head):
        return "metaimage"
    return None


def sniff_format(path: str | os.PathLike) -> str:
    """Return the format of ``path`` from its content.

    A folder is ``"dicom"`` when at least one of its files is DICOM (a series folder).

    Args:
        path: a file or a folder.

    Returns:
        one of ``"dicom"``, ``"nifti"``, ``"metaimage"``, ``"nrrd"``, ``"png"``, ``"jpeg"``, ``"bmp"``, ``"tiff"``.

    Raises:
        InputError: ``path`` does not exist.
        EmptyInputError: a zero-byte file, or a folder without any file we can read.
        UnsupportedFormatError: the bytes match no format we read.
    """
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.stat().st_size > 0)
        if not files:
            raise EmptyInputError(p, "the folder holds no (non-empty) files")
        if any(_sniff_file(f) == "dicom" for f in files):
            return "dicom"
        raise EmptyInputError(p, f"the folder holds {len(files)} file(s) but no DICOM series (pass an image file)")
    if not p.exists():
        raise InputError(p, "no such file or folder")
    if p.stat().st_size == 0:
        raise EmptyInputError(p, "the file is empty (0 bytes)")
    fmt = _sniff_file(p)
    if fmt is None:
        raise UnsupportedFormatError(
            p,
            "unknown format by content (supported: DICOM, NIfTI, MetaImage, NRRD, PNG, JPEG, BMP, TIFF)",
        )
    return fmt
