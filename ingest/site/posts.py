"""The Telegram post card: a post as its archived captures show it, for the source page and citations.

The card shows the latest captured state (channel, date, text, forwarded-from, reply-to, link
preview, media as archived copies), then what changed over the captures: views at each capture,
each text edit with its diff and whether the preview marked the post "edited", and, when the
latest attempt found the post gone, that it is gone, since when and in Telegram's words; and which
witness each capture is (the web preview, or the Telegram API through a logged-in session). Nothing
is fetched from Telegram: every image is the archived file.
"""

from __future__ import annotations

import json
from typing import Any

DB = "archive"

_POSTS = """
SELECT p.*, e.text FROM telegram_posts p LEFT JOIN extractions e ON e.id = p.extraction_id
WHERE p.source_id = ? ORDER BY p.capture_id"""
_FILES = """
SELECT * FROM post_files WHERE capture_id = ? AND role != 'channel_page' ORDER BY n"""
_GONE = """
SELECT a.started_at, a.outcome, a.error, a.method FROM attempts a WHERE a.source_id = ?
  AND a.id = (SELECT max(id) FROM attempts WHERE source_id = a.source_id) AND a.outcome IN ('gone', 'failed', 'refused')"""


async def _rows(datasette: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    result = await datasette.get_database(DB).execute(sql, params)
    return [dict(r) for r in result.rows]


def _diff_lines(diff: str | None) -> list[tuple[str, str]]:
    out = []
    for line in (diff or "").splitlines()[2:]:  # the two file-name lines say which captures: shown apart
        kind = "add" if line.startswith("+") else "del" if line.startswith("-") else "hunk" if line.startswith("@@") else "same"
        out.append((kind, line + "\n"))
    return out


async def post_card(datasette: Any, source_id: str, capture_id: int | None = None) -> dict[str, Any] | None:
    """The card of a Telegram post source, or None when the source has no post captured. The
    post shown is as capture `capture_id` showed it (a citation's anchored capture), else the latest."""
    rows = await _rows(datasette, _POSTS, [source_id])
    if not rows:
        return None
    chosen = [r for r in rows if r["capture_id"] == capture_id]
    latest = dict(chosen[0] if chosen else rows[-1])
    latest["link_preview"] = json.loads(latest["link_preview"]) if latest["link_preview"] else None
    files = await _rows(datasette, _FILES, [latest["capture_id"]])
    latest["images"] = [f for f in files if f["outcome"] == "captured" and (f["media_type"] or "").startswith("image/")]
    latest["missing"] = [f for f in files if f["outcome"] != "captured"]
    views = [{"captured_at": r["captured_at"], "views": r["views"], "exact": r["views_exact"],
              "count": r["views_count"], "method": r["method"]} for r in rows]
    edits = [{"captured_at": r["captured_at"], "capture_id": r["capture_id"], "from": r["previous_capture_id"],
              "edited": r["edited"], "diff": _diff_lines(r["text_diff"])} for r in rows if r["text_changed"]]
    gone = await _rows(datasette, _GONE, [source_id])
    return {"post": latest, "views": views, "edits": edits, "gone": gone[0] if gone else None,
            "captures": len(rows)}
