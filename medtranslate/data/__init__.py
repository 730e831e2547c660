"""medtranslate.data: manifests (hashes, duplicates, leakage, subsets, splits, MRI contrast), datalists, the unpaired
dataset."""

from medtranslate.data.contrast import CONTRASTS, ContrastClassifier, load_classifier, read_contrast_labels
from medtranslate.data.datalist import load_datalist, load_manifest, paired_datalist
from medtranslate.data.dataset import UnpairedDataset
from medtranslate.data.manifest import (
    DATASET_DIR_PLACEHOLDER,
    DOMAINS,
    LAYOUTS,
    MANIFEST_VERSION,
    SPLITS,
    build_manifest,
    detect_layout,
    read_manifest,
    resolve_base_dir,
    verify_manifest,
    write_manifest,
)

__all__ = [
    "CONTRASTS",
    "DATASET_DIR_PLACEHOLDER",
    "DOMAINS",
    "LAYOUTS",
    "MANIFEST_VERSION",
    "SPLITS",
    "ContrastClassifier",
    "UnpairedDataset",
    "build_manifest",
    "detect_layout",
    "load_classifier",
    "load_datalist",
    "load_manifest",
    "paired_datalist",
    "read_contrast_labels",
    "read_manifest",
    "resolve_base_dir",
    "verify_manifest",
    "write_manifest",
]
