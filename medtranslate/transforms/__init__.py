"""medtranslate.transforms."""
