"""Khronika: capture sources byte-for-byte, anchor claims in them, prove the chain."""

__version__ = "0.1.0"
