"""A run's Telegram API captures (`run --telegram-api CONFIG.json`), recorded in the archive and the run's WARC.

Used for a Telegram post whose web preview shows nothing (the preview's attempt, with Telegram's
reason, is recorded first, as without the mode). The API's answer (`capture/tgapi`) is the
capture's file, content-addressed, and a WARC `resource` record whose WARC-Target-URI is the
post's t.me URL; beside it a `metadata` record says how it was fetched (the API request, its
layer, Telethon's version, that a logged-in user session was used; never the account or its
phone number). The post's photo is a file and a resource record of its own (`<post URL>#photo-<id>`)
and a `post_files` row. The capture's method is `telegram_api` wherever it is shown.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.capture.media import sniff_media_type
from ingest.capture.telegram import post_ref
from ingest.capture.tgapi import METHOD, TelegramApi
from ingest.claims.cases import Source
from ingest.claims.recording import next_id, store
from ingest.errors import FetchFailed
from ingest.text.extraction import TELEGRAM_TL_TYPE


def wanted(runner: Any, source: Source, failure: FetchFailed) -> bool:
    """Whether a Telegram post whose preview failed is to be asked through the API in this run."""
    return (runner.options.telegram_api is not None and failure.outcome != "refused"
            and post_ref(source.url) is not None)


def not_rechecked(runner: Any, previous: dict[str, Any] | None) -> str | None:
    """Why a post last captured through the API is left as it is in a run without --telegram-api:
    its web preview showed no post, so asking it again would say nothing true about the post
    (its "no post" would read as the post gone)."""
    if previous is not None and previous["method"] == METHOD and runner.options.telegram_api is None:
        return (f"captured through the Telegram API ({METHOD}) {previous['captured_at']}; not re-checked without "
                "--telegram-api (its web preview showed no post)")
    return None


def _api(runner: Any) -> TelegramApi:
    if runner.tgapi is None:
        runner.tgapi = TelegramApi(runner.options.telegram_api)
    return runner.tgapi


def close(runner: Any) -> None:
    if runner.tgapi is not None:
        runner.tgapi.close()
        runner.tgapi = None


def provenance(post: Any, ref: Any) -> bytes:
    """The WARC metadata record's JSON: how the post was fetched, nothing of who fetched it."""
    return json.dumps({
        "method": METHOD, "post": ref.url, "request": post.request, "api_layer": post.layer,
        "client": f"Telethon {post.telethon}", "session": "a logged-in Telegram user session (account not recorded)",
        "payload": "Telethon's TL serialization of the API's answer (bytes(result)), not the bytes on the wire",
        "fetched_at": post.fetched_at, "photos": [{"photo_id": p.photo_id, "outcome": p.outcome, "error": p.error}
                                                   for p in post.photos],
    }, ensure_ascii=False, indent=1).encode("utf-8")


def capture_post(runner: Any, source: Source, sid: str, previous: dict[str, Any] | None, moved: bool,
                 preview: str) -> None:
    """Capture post `source` through the Telegram API and record what came of it (never raises for the post)."""
    from ingest.runreport import FAILED, NEW, UNCHANGED
    from ingest.store.log import utcnow

    ref = post_ref(source.url)
    assert ref is not None
    started = utcnow()
    try:
        post = _api(runner).fetch(ref)
    except FetchFailed as exc:
        runner._attempt(sid, METHOD, source.url, exc.outcome, exc.reason, started_at=started)
        runner._result(sid, FAILED, f"{exc.outcome}: {exc.reason} (through the Telegram API; the web preview: {preview})")
        return
    archive, warc = runner.archive, runner.warc
    blake3 = store(archive, post.data, TELEGRAM_TL_TYPE)
    if previous is not None and previous["blake3"] == blake3 and not moved:
        runner._attempt(sid, METHOD, source.url, "unchanged", None, started_at=post.fetched_at,
                        capture_id=previous["id"], blake3=blake3)
        runner._result(sid, UNCHANGED, f"unchanged at {post.fetched_at} through the Telegram API ({blake3[:12]})")
        return
    ref_record = warc.write_resource(ref.url, post.data, f"{TELEGRAM_TL_TYPE}; type=messages.ChannelMessages; "
                                                         f"layer={post.layer}", post.fetched_at)
    # The attempt names the metadata record, so an evidence package carries it beside the capture's.
    meta = warc.write_metadata(ref.url, provenance(post, ref), "application/json", post.fetched_at)
    cid = runner._new_capture(sid, blake3, previous, {
        "captured_at": post.fetched_at, "method": METHOD, "url": source.url, "media_type": TELEGRAM_TL_TYPE,
        "tool": f"Telethon/{post.telethon} (API layer {post.layer}, a logged-in user session)",
        "completeness": "checked", "completeness_note": "the API's whole answer, as Telethon parsed and serialized it",
        "warc_file": ref_record.file, "warc_offset": ref_record.offset, "warc_length": ref_record.length,
    })
    runner._attempt(sid, METHOD, source.url, "captured", None, started_at=post.fetched_at, capture_id=cid, blake3=blake3,
                    warc_ref=meta)
    for n, photo in enumerate(post.photos, 1):
        _photo_row(runner, ref, sid, cid, n, photo, post.fetched_at)
    what = "address changed: new version" if moved else "changed: new version" if previous else "captured"
    runner._result(sid, NEW, f"{what} through the Telegram API ({METHOD}) {ref.url} ({blake3[:12]}, {len(post.data)} bytes); "
                             f"the web preview: {preview}")


def _photo_row(runner: Any, ref: Any, sid: str, cid: int, n: int, photo: Any, fetched_at: str) -> None:
    archive = runner.archive
    url = f"{ref.url}#photo-{photo.photo_id}"
    row: dict[str, Any] = {"id": next_id(archive, "post_files"), "capture_id": cid, "source_id": sid, "n": n,
                           "role": "photo", "url": url, "outcome": photo.outcome, "error": photo.error, "blake3": None,
                           "media_type": None, "size": None, "fetched_at": fetched_at, "hops": None,
                           "warc_file": None, "warc_offset": None}
    if photo.data is not None:
        media_type = sniff_media_type(photo.data, "image/jpeg")
        record = runner.warc.write_resource(url, photo.data, media_type, fetched_at)
        row.update(blake3=store(archive, photo.data, media_type), media_type=media_type, size=len(photo.data),
                   warc_file=record.file, warc_offset=record.offset)
    else:
        runner.report.notes.append(f"{sid}: photo {url} not archived: {photo.outcome}: {photo.error}")
    archive.record("post_file", "post_files", str(row["id"]), row)
