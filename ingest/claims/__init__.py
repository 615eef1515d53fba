"""Claims and their support: case files, anchoring quotes in archived text, claim status."""
