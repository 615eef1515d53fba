"""The Chromium visibility pass run in a browser child process (capture/chromium.BrowserProcess), one archived page per job, with a time limit per page.

A page whose scripts never stop cannot stop a run: past PAGE_LIMIT the browser's process groups
are killed, the page's quotes are `visibility unchecked` with the reason, and the next page gets
a fresh browser.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ingest.capture.chromium import BrowserProcess, JobFailed
from ingest.claims.verdict import UNCHECKED, Verdict

PAGE_LIMIT = 30.0  # wall seconds for one page, load and measuring included
HANDLER = "ingest.claims.render_worker:handle"


class RenderWorker:
    """The parent's side: `render` one page at a time; `version` names the browser once started."""

    def __init__(self, archive_root: Path) -> None:
        self.archive_root = archive_root
        self.process = BrowserProcess(HANDLER)

    @property
    def version(self) -> str | None:
        return self.process.version

    def render(self, url: str, body_path: Path, content_type: str, quotes: list[str]) -> tuple[list[Verdict], dict[str, int]]:
        """A verdict per quote and the refused requests by kind; BrowserUnavailable when there is no browser."""
        job = {"archive": str(self.archive_root), "url": url, "body": str(body_path),
               "content_type": content_type, "quotes": quotes}
        try:
            answer = self.process.call(job, PAGE_LIMIT)
        except JobFailed as exc:
            why = str(exc)
            if why.startswith("the browser did not finish within"):
                why = f"rendering in Chromium did not finish within {PAGE_LIMIT:g} s"
            else:
                why = f"rendering in Chromium failed: {why}"
            return [Verdict(UNCHECKED, why) for _ in quotes], {}
        return [Verdict(v["state"], v["reason"], v["detail"]) for v in answer["verdicts"]], answer["refused"]

    def close(self) -> None:
        self.process.close()


_lookups: dict[str, Any] = {}


def _lookup(archive_root: Path) -> Any:
    """URL -> (archived bytes, media type) of its latest capture, read-only, or None."""
    conn = sqlite3.connect(f"file:{archive_root / 'archive.db'}?mode=ro", uri=True)

    def lookup(url: str) -> tuple[bytes, str] | None:
        found = conn.execute("SELECT c.blake3, c.media_type, f.path FROM captures c JOIN files f ON f.blake3 = c.blake3 "
                             "WHERE c.url = ? OR c.final_url = ? ORDER BY c.id DESC LIMIT 1", [url, url]).fetchone()
        if found is None:
            return None
        try:
            return (archive_root / found[2]).read_bytes(), found[1] or "application/octet-stream"
        except OSError:
            return None
    return lookup


def handle(browser: Any, job: dict[str, Any]) -> dict[str, Any]:
    """In the browser child: one page's verdicts (see claims/rendered.render)."""
    from ingest.claims.rendered import render

    lookup = _lookups.get(job["archive"])
    if lookup is None:
        lookup = _lookups[job["archive"]] = _lookup(Path(job["archive"]))
    verdicts, refused = render(browser, job["url"], Path(job["body"]).read_bytes(), job["content_type"],
                               job["quotes"], lookup)
    return {"verdicts": [{"state": v.state, "reason": v.reason, "detail": v.detail} for v in verdicts],
            "refused": refused}
