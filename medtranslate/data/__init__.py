"""medtranslate.data."""
