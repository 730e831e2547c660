"""medtranslate: unpaired brain CT → synthetic MRI translation with CycleGAN, built on MONAI.

Domain A is CT and domain B is MRI throughout; ``G_A`` maps CT → MRI and ``G_B`` maps MRI → CT.

Importing the package is light (no torch, no MONAI): the console entry starts fast; the sub-packages import
what they need.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["__version__", "bundle_root", "shipped_bundle"]

__version__ = "0.1.0"

#: a folder is a bundle when it holds this file (the model zoo's layout).
_BUNDLE_MARKER = Path("configs") / "metadata.json"


def shipped_bundle() -> Path:
    """The ``ct2mri`` bundle that comes with the package: ``medtranslate/bundle`` inside an installed wheel, else
    ``bundles/ct2mri`` of the source checkout the package is imported from (an editable install)."""
    package = Path(__file__).resolve().parent
    installed = package / "bundle"
    if (installed / _BUNDLE_MARKER).is_file():
        return installed
    return package.parent / "bundles" / "ct2mri"


def bundle_root() -> Path:
    """The bundle the configs and the CLI use when none is named (``--bundle_root`` / ``--bundle-root``): the
    working folder when it is a bundle (has ``configs/metadata.json``; the zoo's ``"bundle_root": "."`` run from
    inside the bundle), else :func:`shipped_bundle`. Absolute."""
    here = Path.cwd()
    return here if (here / _BUNDLE_MARKER).is_file() else shipped_bundle()
