"""The ingest benchmark: the real `run` command against a bare extraction loop, workers, re-runs, fixity, memory."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.bench.common import (
    bare,
    best_of,
    ingest,
    raw_hash,
)

# -- the ingest part ------------------------------------------------------------------------------


def bench_ingest(work: Path, docs: int, claims: int, workers: int, corpus: Path | None, say: Callable[[str], None]) -> dict[str, Any]:
    from ingest.bench import synth
    from ingest.store.files import hash_file

    synth.clean(work)
    work.mkdir(parents=True)
    say(f"building corpus in {work} ...")
    start = time.perf_counter()
    if corpus is not None:
        case, made = synth.from_directory(corpus, work / "corpus", claims, limit=docs or None)
    else:
        case, made = synth.build(work / "corpus", docs, claims)
    generated = time.perf_counter() - start
    files = [work / "corpus" / d.relpath for d in made]
    size = sum(p.stat().st_size for p in files)
    raw_hash(files)  # the same page cache for every run that follows
    small_docs = made[: max(1, len(made) // 4)]
    small_case = synth.subset(work / "corpus", small_docs, max(1, claims // 4), "bench-quarter")
    out: dict[str, Any] = {
        "documents": len(made), "pdfs": sum(1 for p in files if p.suffix == ".pdf"), "bytes": size,
        "claims": claims, "workers": workers, "corpus": str(corpus) if corpus else "synthetic",
        "generate_seconds": round(generated, 2),
    }

    say(f"bare extraction loop, 1 worker, {len(files)} files ...")
    bare1, texts = bare(files, 1, work, "1")
    say("ingest, 1 worker ...")
    ing1 = ingest(case, work / "archive-1", 1, work / "ingest-1.log")
    say(f"bare extraction loop, {workers} workers ...")
    bareN, _ = bare(files, workers, work, str(workers))
    say(f"ingest, {workers} workers ...")
    ingN = ingest(case, work / f"archive-{workers}", workers, work / f"ingest-{workers}.log")
    say("second ingest of the unchanged archive ...")
    rerun = ingest(case, work / "archive-1", 1, work / "ingest-rerun.log")
    say(f"ingest of a quarter of the corpus ({len(small_docs)} documents), 1 worker ...")
    small = ingest(small_case, work / "archive-quarter", 1, work / "ingest-quarter.log")

    db = sqlite3.connect(work / "archive-1" / "archive.db")
    by_file = {hash_file(p)[0]: str(p) for p in files}
    ingested = dict(db.execute("SELECT blake3, text_blake3 FROM extractions"))
    differing = sum(1 for b3, path in by_file.items() if ingested.get(b3) != texts.get(path))
    matches = dict(db.execute("SELECT match, count(*) FROM citations GROUP BY match"))
    db.close()

    overhead = (ing1.seconds - bare1.seconds) / bare1.seconds * 100
    bare_speedup = bare1.seconds / bareN.seconds
    ingest_speedup = ing1.seconds / ingN.seconds
    out.update({
        "bare_1_seconds": round(bare1.seconds, 3), f"bare_{workers}_seconds": round(bareN.seconds, 3),
        "ingest_1_seconds": round(ing1.seconds, 3), f"ingest_{workers}_seconds": round(ingN.seconds, 3),
        "rerun_seconds": round(rerun.seconds, 3),
        "docs_per_second_ingest_1": round(len(files) / ing1.seconds, 1),
        "pipeline_overhead_pct": round(overhead, 1),
        "bare_speedup": round(bare_speedup, 2), "ingest_speedup": round(ingest_speedup, 2),
        "worker_scaling_pct_of_bare": round(ingest_speedup / bare_speedup * 100, 1),
        "rerun_speedup": round(ing1.seconds / rerun.seconds, 1),
        "extractions_differing_from_bare_loop": differing,
        "citation_matches": matches,
        "rss_mib": {f"{len(small_docs)} docs": round(small.max_rss_mib, 1), f"{len(files)} docs": round(ing1.max_rss_mib, 1)},
        "rss_rerun_mib": round(rerun.max_rss_mib, 1),
        "rss_growth_pct": round((ing1.max_rss_mib - small.max_rss_mib) / small.max_rss_mib * 100, 1),
        "bare_1_rss_mib": round(bare1.max_rss_mib, 1),
    })

    say("fixity (ingest.verify.check_fixity) against raw BLAKE3+SHA-256 ...")
    from ingest.checks.verify import check_fixity
    from ingest.store.archive import Archive

    with Archive.open(work / "archive-1", write=False) as archive:
        paths = [archive.root / r["path"] for r in archive.db.query("SELECT path FROM files")]
        paths += [archive.root / "warc" / r["name"] for r in archive.db.query("SELECT name FROM warcs")]
        raw_s, hashed = best_of(3, lambda: raw_hash(paths))
        fix_s, (checks, _) = best_of(3, lambda: check_fixity(archive))
    bad = [c for c in checks if c.state != "ok"]
    out.update({
        "fixity_files": len(paths), "fixity_bytes": hashed, "fixity_not_ok": len(bad),
        "raw_hash_mb_per_s": round(hashed / raw_s / 1e6, 1), "fixity_mb_per_s": round(hashed / fix_s / 1e6, 1),
        "fixity_pct_of_raw_hashing": round(raw_s / fix_s * 100, 1),
    })
    return out
