"""medtranslate.metrics."""
