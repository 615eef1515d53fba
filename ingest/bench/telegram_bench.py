"""Telegram post throughput for `make bench`: preview pages read per second by the post reader in the sandboxed workers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from ingest.text.workers import Job, run_jobs

_WORDS = ("суд продлил арест фигурантам дела защита обжалует решение заседание перенесли задержан "
          "court extended detention defendants appeal hearing").split()


def preview_page(channel: str, post_id: int, rng: random.Random) -> bytes:
    """A single-post embed page in the public preview's structure, with seeded text, a photo and a link."""
    text = "<br/>".join(" ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 30))) for _ in range(rng.randint(1, 4)))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Telegram Widget</title></head>'
            f'<body class="widget_frame_base tgme_widget body_widget_post"><div class="tgme_widget_message_wrap">'
            f'<div class="tgme_widget_message js-widget_message" data-post="{channel}/{post_id}">'
            f'<div class="tgme_widget_message_bubble"><div class="tgme_widget_message_author">'
            f'<a class="tgme_widget_message_owner_name" href="https://t.me/{channel}"><span>{escape(channel)}</span></a></div>'
            f'<a class="tgme_widget_message_photo_wrap" style="background-image:url(\'https://cdn.example/{post_id}.jpg\')"></a>'
            f'<div class="tgme_widget_message_text js-message_text">{text} <a href="https://example.org/{post_id}">link</a></div>'
            f'<div class="tgme_widget_message_footer"><span class="tgme_widget_message_views">{rng.randint(100, 99999)}</span>'
            f'<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/{channel}/{post_id}">'
            f'<time datetime="2025-05-16T09:30:00+00:00">09:30</time></a></span></div></div></div></div>'
            f'</body></html>').encode("utf-8")


def bench_telegram(work: Path, posts: int, workers: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Read `posts` synthetic preview pages with the telegram reader through `workers` sandboxed workers."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(16)
    paths = []
    for n in range(1, posts + 1):
        path = work / f"post-{n}.html"
        if not path.exists():
            path.write_bytes(preview_page("bench_channel", n, rng))
        paths.append(path)
    say(f"Telegram: reading {posts} preview page(s) with {workers} worker(s) ...")
    start = time.perf_counter()
    results = list(run_jobs((Job(str(p), str(p), "text/html", "utf-8", reader="telegram") for p in paths), workers=workers))
    seconds = max(round(time.perf_counter() - start, 3), 0.001)  # the rate is of the seconds reported
    failed = sum(1 for _, e in results if e.error)
    out = {"posts": posts, "workers": workers, "seconds": seconds, "failed": failed,
           "posts_per_second": round((posts - failed) / seconds, 1),
           "reader": results[0][1].extractor_version if results else None}
    say(f"Telegram posts per second: {out['posts_per_second']} ({posts} posts, {workers} worker(s), {failed} failed)")
    return out
