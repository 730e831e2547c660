"""Errors a user can fix: each names the file (or object) and the cause in one line.

The CLI prints ``str(error)`` for any :class:`MedTranslateError` and exits non-zero; ``--debug`` shows the
traceback. Everything else is a bug and propagates as usual.
"""

from __future__ import annotations

import os

__all__ = [
    "CheckpointError",
    "ConfigError",
    "CorruptFileError",
    "DimensionError",
    "EmptyInputError",
    "GeometryError",
    "InputError",
    "MedTranslateError",
    "MissingCodecError",
    "MultipleSeriesError",
    "NonFiniteError",
    "OutputError",
    "OutputExistsError",
    "UnsupportedFormatError",
    "find_user_error",
]


class MedTranslateError(Exception):
    """Base class: ``MedTranslateError(path, reason)`` reads as ``"<path>: <reason>"``.

    The reason is kept on one line (line breaks and runs of spaces, e.g. from a library's message quoted in it,
    become single spaces) so that the CLI's report of it is one line.
    """

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(self.reason if self.path is None else f"{self.path}: {self.reason}")


class InputError(MedTranslateError):
    """An input file or folder cannot be used as it is."""


class UnsupportedFormatError(InputError):
    """The file's format (by content, not extension) is not one we read."""


class CorruptFileError(InputError):
    """The file claims a format but its bytes are damaged or truncated."""


class EmptyInputError(InputError):
    """A zero-byte file or a folder without any readable image."""


class MultipleSeriesError(InputError):
    """A DICOM folder holds several series and none was chosen."""


class MissingCodecError(InputError):
    """The pixel data are compressed with a codec that is not installed; the message names the package."""


class DimensionError(InputError):
    """The image has the wrong number of dimensions or channels (e.g. 4D where 3D is needed)."""


class NonFiniteError(InputError):
    """The image holds NaN or Inf values."""


class GeometryError(InputError):
    """The header's geometry is unusable: NaN/Inf in the affine or spacing, zero or negative voxel sizes, or axes
    that do not span the image (a singular affine)."""


class ConfigError(MedTranslateError):
    """A setting has an invalid value (unknown network name, bad option); ``path`` names the setting."""


class CheckpointError(MedTranslateError):
    """A checkpoint is missing, unsafe, or was made for another architecture or image size."""


class OutputError(MedTranslateError, OSError):
    """An output cannot be written: read-only folder, missing permission, disk full or quota exceeded.

    Also an ``OSError`` (with the ``errno`` of the failure), so code that handles I/O errors keeps working.
    """


class OutputExistsError(MedTranslateError):
    """An output exists (or is an input) and ``overwrite`` was not given."""


def find_user_error(error: BaseException) -> MedTranslateError | None:
    """The :class:`MedTranslateError` behind ``error``, if any.

    MONAI's ``Compose`` and config parser re-raise errors as ``RuntimeError(...) from error``; this walks the
    ``__cause__``/``__context__`` chain so callers can still report the user's mistake in one line.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, MedTranslateError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
