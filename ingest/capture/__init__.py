"""Capturing sources: safe fetching and address policy, content decoding, media sniffing, WARC writing."""
