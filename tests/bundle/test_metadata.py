"""``metadata.json`` verifies offline against the bundle's copy of MONAI's metadata schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from monai.bundle import verify_metadata

pytestmark = pytest.mark.filterwarnings("ignore:No hash value provided:UserWarning")


def _without(metadata: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A deep copy of ``metadata`` with the key at ``path`` removed."""
    out = json.loads(json.dumps(metadata))
    node = out
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return out


def test_schema_is_valid_draft7(configs: Path) -> None:
    schema = json.loads((configs / "schema" / "meta_schema.json").read_text())
    Draft7Validator.check_schema(schema)
    assert "mirrors the fields and types of MONAI's official schema" in schema["description"]


def test_metadata_verifies_offline(configs: Path) -> None:
    schema = configs / "schema" / "meta_schema.json"
    before = schema.read_bytes()
    verify_metadata(meta_file=str(configs / "metadata.json"), filepath=str(schema))
    assert schema.read_bytes() == before  # download_url keeps an existing file when no hash is given


@pytest.mark.slow  # a fresh interpreter importing MONAI: 5-10 s on a shared 2-core machine
def test_metadata_verifies_offline_cli(repo_root: Path) -> None:
    """The documented command line, run from the repository root."""
    configs = "bundles/ct2mri/configs"
    cmd = [sys.executable, "-m", "monai.bundle", "verify_metadata", "--meta_file", f"{configs}/metadata.json"]
    cmd += ["--filepath", f"{configs}/schema/meta_schema.json"]
    result = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "metadata is verified with no error" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "path",
    [
        ("version",),
        ("changelog",),
        ("monai_version",),
        ("pytorch_version",),
        ("numpy_version",),
        ("required_packages_version",),
        ("task",),
        ("description",),
        ("authors",),
        ("copyright",),
        ("network_data_format",),
        ("network_data_format", "outputs"),
        ("network_data_format", "inputs", "image", "spatial_shape"),
        ("network_data_format", "outputs", "pred", "channel_def"),
    ],
    ids=lambda p: ".".join(p),
)
def test_missing_required_field_fails(tmp_path: Path, configs: Path, path: tuple[str, ...]) -> None:
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(_without(json.loads((configs / "metadata.json").read_text()), path)))
    with pytest.raises(ValueError, match=f"'{path[-1]}' is a required property"):
        verify_metadata(meta_file=str(meta), filepath=str(configs / "schema" / "meta_schema.json"))


@pytest.mark.parametrize(
    ("key", "value"),
    [("num_channels", "1"), ("is_patch_data", "false"), ("spatial_shape", [256, 0]), ("value_range", [-1, 0, 1])],
)
def test_wrong_tensor_format_type_fails(tmp_path: Path, configs: Path, key: str, value: Any) -> None:
    metadata = json.loads((configs / "metadata.json").read_text())
    metadata["network_data_format"]["inputs"]["image"][key] = value
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match="Failed validating"):
        verify_metadata(meta_file=str(meta), filepath=str(configs / "schema" / "meta_schema.json"))
