"""Checking an archive: fixity, reproducibility, the quote gate, the log chain, live drift."""
