"""WACZ output of a case's captures, made and checked by the `wacz` package (optional dependency).

The WACZ holds the bag's WARC file whole: each archive file's warcinfo record, every redirect hop
of each capture, the final exchanges, revisit records and the local documents' resource records
(their urn:khronika: addresses replay in pywb like any other URI). `pages/pages.jsonl` is written
here from the case's web captures (one line per capture: its case-file URL, its time and its
title), not guessed by `wacz --detect-pages`, and copied into the WACZ as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ingest.errors import KhronikaError

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}


class WaczError(KhronikaError):
    pass


def require_wacz() -> None:
    """Fail before anything is written when the `wacz` package cannot be imported."""
    try:
        import wacz  # noqa: F401
    except ImportError:
        raise WaczError("--wacz needs the wacz package (pip install 'khronika[wacz]'); nothing was written") from None


def pages_lines(pages: list[dict[str, Any]]) -> bytes:
    """pages.jsonl (WACZ 1.1.1): a header line, then one JSON object per page."""
    lines = [PAGES_HEADER, *pages]
    return b"".join(json.dumps(line, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for line in lines)


def write_wacz(warc: Path, target: Path, title: str, pages: list[dict[str, Any]]) -> None:
    """Create target (.wacz) from warc and the given pages, then run `wacz validate` on it.

    The WACZ is made under a temporary name beside target and renamed only once it validates,
    so a failure leaves no file at target."""
    require_wacz()
    partial = target.with_name(target.name + ".partial")
    try:
        with tempfile.TemporaryDirectory(prefix="khronika-wacz-") as tmp:
            pages_file = Path(tmp) / "pages.jsonl"
            pages_file.write_bytes(pages_lines(pages))
            create = subprocess.run([sys.executable, "-m", "wacz", "create", "-o", str(partial), "--pages",
                                     str(pages_file), "--copy-pages", "--title", title, str(warc)],
                                    capture_output=True, text=True)
            if create.returncode != 0 or not partial.is_file():
                raise WaczError(f"wacz create failed: {(create.stderr or create.stdout).strip()[-500:]}")
        check = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(partial)],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise WaczError(f"wacz validate rejects {target}: {(check.stderr or check.stdout).strip()[-500:]}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
