"""medtranslate.inference."""
