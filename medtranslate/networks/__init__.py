"""medtranslate.networks."""
