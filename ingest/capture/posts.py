"""Recording Telegram posts: the post row of each capture from its `telegram` extraction, and the
channel page and media fetched beside it, archived as files of their own and linked to the post.
A channel page that does not hold the post (a channel whose web preview is disabled is sent on
to another page) is kept, with outcome `no_post` and the reason.

A post captured through the Telegram API (method `telegram_api`, read by `text/tgapi`) gets its
row the same way; its photo was archived with the capture, so nothing is fetched beside it.

A post row is logged (`telegram_posts`), so the table is rebuilt from the log like every other;
it holds what that capture's preview showed (views, the "edited" marker, the text's hash), and
when the text differs from the source's previous post row, the unified diff of the two. What is
fetched beside a post (`post_files`: the channel page positioned at the post, then each photo,
video poster and link-preview image in page order) is fetched once per capture, through the same
fetch, address policy and limits as the post; a file that cannot be fetched is a row with its
outcome and reason, never a silent gap. Under --offline nothing is fetched: the next run does it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from ingest.capture.hops import hops_json
from ingest.capture.telegram import post_ref, unavailable
from ingest.capture.warc import RunWarc
from ingest.errors import FetchFailed
from ingest.store.archive import Archive
from ingest.store.db import dumps, file_known
from ingest.store.log import utcnow

if TYPE_CHECKING:
    from ingest.capture.fetch import FetchConfig

_NEW_POSTS = """
SELECT c.id AS capture_id, c.source_id, c.captured_at, c.url, c.method, e.id AS extraction_id, e.metadata, e.text,
       e.text_blake3
FROM captures c JOIN extractions e ON e.blake3 = c.blake3 AND e.extractor IN ('telegram', 'telegram_api') AND e.error IS NULL
WHERE NOT EXISTS (SELECT 1 FROM telegram_posts p WHERE p.capture_id = c.id)
  AND e.id = (SELECT max(id) FROM extractions x WHERE x.blake3 = c.blake3 AND x.extractor = e.extractor AND x.error IS NULL)
ORDER BY c.id
"""
_UNFETCHED = """
SELECT p.capture_id, p.source_id, p.url, p.media FROM telegram_posts p
WHERE NOT EXISTS (SELECT 1 FROM post_files f WHERE f.capture_id = p.capture_id)
  AND p.method IS NOT 'telegram_api' ORDER BY p.capture_id
"""


def _previous(archive: Archive, source_id: str, capture_id: int) -> dict[str, Any] | None:
    rows = list(archive.db.query(
        "SELECT p.capture_id, p.text_blake3, e.text FROM telegram_posts p JOIN extractions e ON e.id = p.extraction_id "
        "WHERE p.source_id = ? AND p.capture_id < ? ORDER BY p.capture_id DESC LIMIT 1", [source_id, capture_id]))
    return rows[0] if rows else None


def post_row(archive: Archive, c: dict[str, Any]) -> dict[str, Any]:
    """The telegram_posts row of one capture, from its extraction's metadata."""
    post = json.loads(c["metadata"] or "{}").get("telegram", {})
    ref = post_ref(c["url"])
    before = _previous(archive, c["source_id"], c["capture_id"])
    changed = diff = None
    if before is not None:
        changed = int(before["text_blake3"] != c["text_blake3"])
        if changed and before["text"] is not None and c["text"] is not None:
            diff = "\n".join(difflib.unified_diff(before["text"].splitlines(), c["text"].splitlines(),
                                                  f"capture {before['capture_id']}", f"capture {c['capture_id']}", lineterm=""))
    forwarded, reply = post.get("forwarded_from") or {}, post.get("reply_to") or {}
    return {
        "capture_id": c["capture_id"], "source_id": c["source_id"], "extraction_id": c["extraction_id"],
        "captured_at": c["captured_at"], "url": ref.url if ref else c["url"],
        "channel": post.get("channel"), "channel_title": post.get("channel_title"), "post_id": post.get("post_id"),
        "posted_at": post.get("datetime"), "author": post.get("author"), "edited": int(bool(post.get("edited"))),
        "edit_date": post.get("edit_date"), "method": c["method"],
        "views": post.get("views"), "views_count": post.get("views_count"), "views_exact": int(bool(post.get("views_exact"))),
        "forwarded_from": forwarded.get("name"), "forwarded_url": forwarded.get("url"),
        "reply_to_url": reply.get("url"), "reply_to_author": reply.get("author"), "reply_to_text": reply.get("text"),
        "link_preview": dumps(post.get("link_preview")), "links": dumps(post.get("links") or []),
        "media": dumps(post.get("media") or []), "text_blake3": c["text_blake3"],
        "previous_capture_id": before["capture_id"] if before else None, "text_changed": changed, "text_diff": diff,
        "recorded_at": utcnow(),
    }


def _keep(archive: Archive, data: bytes, media_type: str) -> str:
    # As claims/recording.store does for captures; capture/ may not import claims/ (a later stage).
    stored = archive.store.put(data)
    if not file_known(archive.db, stored.blake3):
        archive.record("file_stored", "files", stored.blake3, {
            "blake3": stored.blake3, "sha256": stored.sha256, "size": stored.size,
            "media_type": media_type, "path": stored.relpath, "stored_at": utcnow()})
    return stored.blake3


def _fetch_file(archive: Archive, warc: RunWarc, config: FetchConfig, post: dict[str, Any], n: int,
                role: str, url: str) -> dict[str, Any]:
    from ingest.capture.fetch import fetch

    row: dict[str, Any] = {"id": None, "capture_id": post["capture_id"], "source_id": post["source_id"], "n": n,
                           "role": role, "url": url, "outcome": None, "error": None, "blake3": None,
                           "media_type": None, "size": None, "fetched_at": utcnow(), "hops": None,
                           "warc_file": None, "warc_offset": None}
    try:
        result = fetch(url, config)
    except FetchFailed as exc:
        ref = warc.write_exchanges(exc.hops)
        row.update(outcome=exc.outcome, error=exc.reason, hops=hops_json(exc.hops),
                   warc_file=ref.file if ref else None, warc_offset=ref.offset if ref else None)
        return row
    ref = warc.write_exchanges(result.hops)
    post_at = post_ref(post["url"])
    # A channel whose web preview is disabled sends /s/CHANNEL/ID on to another page: kept, but
    # not called the channel page.
    missing = unavailable(result.body, post_at) if role == "channel_page" and post_at else None
    row.update(outcome="no_post" if missing else "captured", error=missing,
               blake3=_keep(archive, result.body, result.media_type), media_type=result.media_type,
               size=len(result.body), fetched_at=result.fetched_at, hops=hops_json(result.hops),
               warc_file=ref.file if ref else None, warc_offset=ref.offset if ref else None)
    return row


def record_posts(archive: Archive, warc: RunWarc, fetching: Callable[[], FetchConfig] | None) -> list[str]:
    """Record the post row of every capture newly extracted as a Telegram post; then, when
    `fetching` gives a fetch configuration, fetch and archive what each such post shows beside
    its text. Returns notes for the run's summary (files that could not be fetched)."""
    notes: list[str] = []
    for c in list(archive.db.query(_NEW_POSTS)):
        with archive.batch():
            archive.record("telegram_post", "telegram_posts", str(c["capture_id"]), post_row(archive, c))
    if fetching is None:
        return notes
    for post in list(archive.db.query(_UNFETCHED)):
        ref = post_ref(post["url"])
        wanted = [("channel_page", ref.channel_url)] if ref else []
        base = ref.embed_url if ref else post["url"]
        wanted += [(m["kind"], urljoin(base, m["url"])) for m in json.loads(post["media"] or "[]") if m.get("url")]
        if not wanted:
            continue
        config = fetching()
        for n, (role, url) in enumerate(wanted, 1):
            with archive.batch():
                row = _fetch_file(archive, warc, config, post, n, role, url)
                row["id"] = archive.db.execute("SELECT coalesce(max(id), 0) + 1 FROM post_files").fetchone()[0]
                archive.record("post_file", "post_files", str(row["id"]), row)
            if row["outcome"] == "no_post":
                notes.append(f"{post['source_id']}: {role} {url} does not show the post (kept as fetched): {row['error']}")
            elif row["outcome"] != "captured":
                notes.append(f"{post['source_id']}: {role} {url} not archived: {row['outcome']}: {row['error']}")
    return notes
