"""Serving at scale: a Datasette database built once in the real schema, published as the site publishes it, then served.

The database is built under the cache folder the first time (`web-<docs>-<claims>/archive.db`,
with `complete` holding how long the build took) and reused by every later run; the published
snapshot (`ingest.site.publish.snapshot`: copy, scrub, inspect data) is made from it once too,
timed, and what is served and measured is that snapshot, opened immutable with its inspect data,
as `serve` opens it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.bench.web_bench import DOCUMENTS_DONE, bench_web, build_web_db

BUILT = "complete"  # "<seconds> s": the build finished (the sum of its parts)
BUILD_PARTS = "build-parts"  # one line per part of a build that was stopped and resumed: "<seconds> s <what>"
PUBLISHED = "published-seconds"  # "<seconds> s": the snapshot finished


def _seconds_of(line: str) -> float:
    return float(line.split()[0])


def _seconds(path: Path) -> float:
    return _seconds_of(path.read_text(encoding="utf-8"))


def _size_mib(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 1)


def bench_served(folder: Path, docs: int, claims: int, requests: int, metadata: Path | None,
                 say: Callable[[str], None]) -> dict[str, Any]:
    from ingest.site import publish
    from ingest.store import db as dbm

    db = folder / "archive.db"
    parts = folder / BUILD_PARTS
    if not (folder / BUILT).exists():
        resume = (folder / DOCUMENTS_DONE).exists() and db.exists()
        if not resume:
            parts.unlink(missing_ok=True)
        say(f"{'resuming' if resume else 'building'} a Datasette DB of {docs} documents, {claims} claims in {folder} "
            "(kept for later runs) ...")
        start = time.perf_counter()
        build_web_db(db, docs, claims, say=say, resume=resume)
        with parts.open("a", encoding="utf-8") as out:
            out.write(f"{time.perf_counter() - start:.1f} s {'resumed' if resume else 'whole'} build\n")
        total = sum(_seconds_of(line) for line in parts.read_text(encoding="utf-8").splitlines() if line.strip())
        (folder / BUILT).write_text(f"{total:.1f} s\n", encoding="utf-8")
    snap = publish.published_dir(folder) / publish.DB_NAME
    if not (folder / PUBLISHED).exists() or not snap.exists():
        dbm.open_db(db).close()  # indexes added to the schema since the database was built
        say(f"publishing the snapshot of {db} ...")
        start = time.perf_counter()
        publish.snapshot(folder)
        (folder / PUBLISHED).write_text(f"{time.perf_counter() - start:.1f} s\n", encoding="utf-8")
    say(f"Datasette at {docs} documents, {claims} claims ...")
    inspect = json.loads((publish.published_dir(folder) / publish.INSPECT_NAME).read_text(encoding="utf-8"))
    web = bench_web(snap, requests, metadata, say, inspect_data=inspect)
    build_parts = parts.read_text(encoding="utf-8").splitlines() if parts.exists() else []
    web.update(documents=docs, claims=claims, db_mib=_size_mib(db), build_seconds=_seconds(folder / BUILT),
               build_parts=[line for line in build_parts if line.strip()],
               snapshot_mib=_size_mib(snap), snapshot_seconds=_seconds(folder / PUBLISHED))
    return web
