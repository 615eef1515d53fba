"""Turning archived bytes into text: charset decoding, HTML and PDF extraction, sandboxed workers."""
