"""medtranslate.io."""
