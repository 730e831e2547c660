"""Packaging: the wheel carries the bundle and translates where it is installed; the package list is complete;
a default install pulls in no GPL-licensed distribution (GPL decoders are the ``gpl-codecs`` extra only)."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import setuptools
from packaging.requirements import Requirement

from medtranslate.data.phantom import make_subject
from medtranslate.io import write_nifti

REPO = Path(__file__).resolve().parents[1]
#: what the wheel is built from (everything else in the repository stays out of it)
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "medtranslate", "bundles/ct2mri")
BUNDLE_FILES = ("configs/inference.json", "configs/metadata.json", "models/model.pt", "LICENSE", "docs/README.md")


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_package_list_names_every_package_of_the_source_tree() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set(setuptools.find_packages(str(REPO), include=["medtranslate*"]))
    assert {p for p in listed if not p.startswith("medtranslate.bundle")} == found


def _is_gpl(dist: metadata.Distribution) -> bool:
    """GPL or AGPL in the licence expression, a short licence field or a classifier; LGPL is allowed (an LGPL
    library imported unmodified does not put its licence on this project; see README, Licences)."""
    meta = dist.metadata
    texts = [meta.get("License-Expression") or ""]
    field = (meta.get("License") or "").strip()
    texts.append(field if len(field) < 100 else field[:200])  # a full licence text: its heading
    texts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    for text in texts:
        lesser = re.sub(r"LGPL\S*|Lesser General Public License|Library General Public License", "", text, flags=re.I)
        if re.search(r"\bA?GPL|General Public License", lesser, flags=re.I):
            return True
    return False


def _default_tree() -> dict[str, metadata.Distribution]:
    """The installed distributions of the default requirements in ``pyproject.toml``, transitively (no extras)."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key in found:
            continue
        try:
            found[key] = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # an optional platform dependency not installed here
        todo += [Requirement(r) for r in found[key].requires or []]
    return found


def test_default_install_has_no_gpl_distribution() -> None:
    tree = _default_tree()
    assert {"torch", "monai", "pydicom", "simpleitk", "pylibjpeg-openjpeg"} <= set(tree)
    assert "pylibjpeg-libjpeg" not in tree, "the GPL-3.0 JPEG plugin belongs to the gpl-codecs extra"
    assert [name for name, dist in tree.items() if _is_gpl(dist)] == []


def test_gpl_detection_reads_the_metadata_forms() -> None:
    def dist(**fields: object) -> metadata.Distribution:
        class Fake(metadata.Distribution):
            def read_text(self, filename: str) -> str | None:
                if filename != "METADATA":
                    return None
                lines = [f"{k.replace('_', '-')}: {v}" for k, vs in fields.items() for v in np.atleast_1d(vs)]
                return "\n".join(["Metadata-Version: 2.4", "Name: x", *lines]) + "\n"

            def locate_file(self, path: str | os.PathLike) -> Path:
                return Path(path)

        return Fake()

    assert _is_gpl(dist(License="GPL V3.0"))
    assert _is_gpl(dist(Classifier="License :: OSI Approved :: GNU General Public License v3 (GPLv3)"))
    assert _is_gpl(dist(License_Expression="AGPL-3.0-only"))
    assert not _is_gpl(dist(License_Expression="LGPL-2.1-or-later"))
    assert not _is_gpl(dist(Classifier="License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)"))
    assert not _is_gpl(dist(License_Expression="Apache-2.0 OR BSD-2-Clause"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built (without dependencies or isolation) from a copy of its sources."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, src / name)
    shutil.rmtree(src / "bundles" / "ct2mri" / "outputs", ignore_errors=True)
    dist = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(dist)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    (path,) = dist.glob("medtranslate-*.whl")
    return path


@pytest.mark.slow  # builds and installs a 16 MB wheel, translates with the CLI and the bundle: ~30 s, 2 busy cores
def test_wheel_carries_the_bundle_and_translates_from_any_folder(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        requires = [
            line
            for line in archive.read(next(n for n in names if n.endswith("METADATA"))).decode().split("\n")
            if line.startswith("Requires-Dist:")
        ]
    assert {f"medtranslate/bundle/{f}" for f in BUNDLE_FILES} <= names
    gpl = [r for r in requires if "pylibjpeg-libjpeg" in r]
    assert gpl == ['Requires-Dist: pylibjpeg-libjpeg>=2.1; extra == "gpl-codecs"']
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    subject = make_subject(5, shape=(48, 40, 2))
    write_nifti(subject.ct_hu[None].astype(np.int16), elsewhere / "ct.nii", affine=subject.affine)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import medtranslate; print(medtranslate.__file__, medtranslate.shipped_bundle())"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where == [str(target / "medtranslate" / "__init__.py"), str(target / "medtranslate" / "bundle")]
    result = subprocess.run(
        [str(target / "bin" / "medtranslate"), "translate", "ct.nii", "-o", "out", "--device", "cpu"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "ct_synthetic_mri.nii.gz").stat().st_size > 0
    config = target / "medtranslate" / "bundle" / "configs" / "inference.json"
    bundle_run = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(config)]
    bundle_run += ["--dataset_dir", "ct.nii", "--output_dir", "bundle_out", "--device", "cpu"]
    result = subprocess.run(bundle_run, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (elsewhere / "bundle_out" / "ct_synthetic_mri.nii.gz").stat().st_size > 0
