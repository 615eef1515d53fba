"""Keeping evidence: the archive folder, content-addressed files, the hash-chained log, the database."""
