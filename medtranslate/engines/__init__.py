"""medtranslate.engines."""
