"""medtranslate.handlers."""
