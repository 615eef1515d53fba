"""WACZ output of a case's web captures, made and checked by the `wacz` package (optional dependency).

Only response and request records go in: a WACZ is for replaying web pages, and the case's
local documents (WARC resource records with file: addresses) are not pages.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ingest.errors import KhronikaError
from ingest.store.warcs import records

WEB_TYPES = ("response", "request")


class WaczError(KhronikaError):
    pass


def _web_members(warc: Path) -> bytes:
    data = warc.read_bytes()
    return b"".join(data[r.offset:r.offset + r.length] for r in records(warc) if r.warc_type in WEB_TYPES)


def write_wacz(warc: Path, target: Path, title: str) -> None:
    """Create target (.wacz) from the web records of warc, then run `wacz validate` on it."""
    try:
        import wacz  # noqa: F401
    except ImportError:
        raise WaczError("--wacz needs the wacz package (pip install 'khronika[wacz]')") from None
    with tempfile.TemporaryDirectory(prefix="khronika-wacz-") as tmp:
        web = Path(tmp) / warc.name
        web.write_bytes(_web_members(warc))
        create = subprocess.run([sys.executable, "-m", "wacz", "create", "-o", str(target), "--detect-pages",
                                 "--title", title, str(web)], capture_output=True, text=True)
        if create.returncode != 0 or not target.is_file():
            raise WaczError(f"wacz create failed: {(create.stderr or create.stdout).strip()[-500:]}")
    check = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(target)], capture_output=True, text=True)
    if check.returncode != 0:
        raise WaczError(f"wacz validate rejects {target}: {(check.stderr or check.stdout).strip()[-500:]}")
