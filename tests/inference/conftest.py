"""Fixtures for inference tests: a tiny random generator saved as model.pt, a matching config, tiny CT inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from medtranslate.data.phantom import make_subject
from medtranslate.io import write_dicom_series, write_nifti
from medtranslate.networks import ResNetGenerator

BUNDLE_CONFIG = Path(__file__).resolve().parents[2] / "bundles" / "ct2mri" / "configs" / "inference.json"
TINY = {"ngf": 4, "n_blocks": 1, "image_size": 32}

#: an oblique (tilted, anisotropic) affine with an LPS-like voxel order, as DICOM-derived NIfTIs often have
OBLIQUE = np.array(
    [[-1.9, 0.2, 0.1, 30.0], [-0.3, -1.8, 0.6, 25.0], [0.1, 0.5, 2.9, -12.0], [0.0, 0.0, 0.0, 1.0]]
)


@pytest.fixture
def bundle_config() -> Path:
    """The bundle's own ``configs/inference.json``."""
    return BUNDLE_CONFIG


@pytest.fixture
def tiny_sizes() -> dict[str, int]:
    """Config overrides for the tiny network."""
    return dict(TINY)


@pytest.fixture
def tiny_net() -> ResNetGenerator:
    torch.manual_seed(0)
    return ResNetGenerator(channels=TINY["ngf"], num_res_blocks=TINY["n_blocks"]).eval()


@pytest.fixture
def model_path(tmp_path: Path, tiny_net: ResNetGenerator) -> Path:
    path = tmp_path / "models" / "model.pt"
    path.parent.mkdir()
    torch.save(tiny_net.state_dict(), path)
    return path


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    """The bundle's inference config with the tiny network's sizes."""
    config = json.loads(BUNDLE_CONFIG.read_text())
    config.update(TINY)
    path = tmp_path / "tiny_inference.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="session")
def phantom():
    return make_subject(3, shape=(32, 28, 6))


@pytest.fixture
def ct_nifti(tmp_path: Path, phantom) -> Path:
    path = tmp_path / "inputs" / "head_ct.nii.gz"
    write_nifti(phantom.ct_hu[None].astype(np.int16), path, affine=phantom.affine)
    return path


@pytest.fixture
def oblique_nifti(tmp_path: Path, phantom) -> Path:
    path = tmp_path / "inputs" / "oblique_ct.nii"
    write_nifti(phantom.ct_hu[None].astype(np.int16), path, affine=OBLIQUE)
    return path


@pytest.fixture
def ct_dicom(tmp_path: Path, phantom) -> Path:
    """A CT series with patient tags, written with the source geometry of ``OBLIQUE`` (no shear)."""
    folder = tmp_path / "inputs" / "ct_series"
    rotation, _ = np.linalg.qr(OBLIQUE[:3, :3])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.9, 0.9, 2.5])
    affine[:3, 3] = OBLIQUE[:3, 3]
    write_dicom_series(
        phantom.ct_hu[None].astype(np.float32),
        folder,
        affine=affine,
        modality="CT",
        synthetic=False,
        rescale=(1.0, -1024.0),
        extra_tags={"PatientName": "DOE^JANE", "PatientID": "P-123", "StudyDescription": "HEAD CT"},
    )
    return folder
