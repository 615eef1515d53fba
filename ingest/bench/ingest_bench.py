"""The ingest benchmark: the real `run` command against a bare extraction loop, workers, re-runs, fixity, memory.

Every phase runs once per round, the rounds interleaved (bare loop, ingest, bare loop with N
workers, ingest with N workers, the unchanged re-run, a quarter-size ingest, the interpreter
start): see `ingest.bench.stats` for how minimums, medians and unstable marks come out of them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.bench.common import STARTUP, ChildRun, bare, ingest, raw_hash, startup, timed
from ingest.bench.stats import Series, interleave, load, ratio, ratio_of_ratios


def bench_ingest(work: Path, docs: int, claims: int, workers: int, corpus: Path | None, say: Callable[[str], None],
                 repeats: int = 3) -> dict[str, Any]:
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
        "generate_seconds": round(generated, 2), "repeats": repeats, "load_before": load(),
    }

    runs: dict[str, list[ChildRun]] = {}
    texts: dict[str, str | None] = {}

    def keep(name: str, run: ChildRun) -> float:
        runs.setdefault(name, []).append(run)
        return run.seconds

    def bare_run(n: int, w: int) -> ChildRun:
        run, found = bare(files, w, work, f"{w}-{n}")
        texts.update(found)
        return run

    say(f"{repeats} interleaved rounds over {len(files)} files ({len(small_docs)} for the quarter-size run) ...")
    phases: list[tuple[str, Callable[[int], float]]] = [
        ("bare 1", lambda n: keep("bare 1", bare_run(n, 1))),
        ("ingest 1", lambda n: keep("ingest 1", ingest(case, work / f"archive-1-{n}", 1, work / f"ingest-1-{n}.log"))),
        (f"bare {workers}", lambda n: keep(f"bare {workers}", bare_run(n, workers))),
        (f"ingest {workers}", lambda n: keep(f"ingest {workers}", ingest(
            case, work / f"archive-{workers}-{n}", workers, work / f"ingest-{workers}-{n}.log"))),
        ("rerun", lambda n: keep("rerun", ingest(case, work / f"archive-1-{n}", 1, work / f"rerun-{n}.log"))),
        ("quarter", lambda n: keep("quarter", ingest(small_case, work / f"archive-quarter-{n}", 1,
                                                     work / f"quarter-{n}.log"))),
        *[(name, (lambda name: lambda n: keep(name, startup(name, work)))(name)) for name in STARTUP],
    ]
    series = interleave(phases, repeats, say)
    out["load_after"] = load()
    b1, i1, bN, iN, rr = (series[k] for k in ("bare 1", "ingest 1", f"bare {workers}", f"ingest {workers}", "rerun"))
    overhead = ratio(i1, b1)
    scaling = ratio_of_ratios(i1, iN, b1, bN)
    speedup = ratio(i1, rr)
    rss_full = Series(tuple(r.max_rss_mib for r in runs["ingest 1"]))
    rss_small = Series(tuple(r.max_rss_mib for r in runs["quarter"]))
    out["series"] = {k: v.as_json() for k, v in series.items()}
    out["ratios"] = {"pipeline_overhead": overhead.as_json(), "worker_scaling": scaling.as_json(),
                     "rerun_speedup": speedup.as_json(), "bare_speedup": ratio(b1, bN).as_json(),
                     "ingest_speedup": ratio(i1, iN).as_json()}
    out.update({
        "pipeline_overhead_pct": round((overhead.value - 1) * 100, 1),
        "worker_scaling_pct_of_bare": round(scaling.value * 100, 1),
        "rerun_speedup": round(speedup.value, 1),
        "docs_per_second_ingest_1": round(len(files) / i1.min, 1),
        "rss_mib": {f"{len(small_docs)} docs": round(rss_small.median, 1), f"{len(files)} docs": round(rss_full.median, 1)},
        "tree_rss_mib": {k: round(max(r.tree_rss_mib for r in runs[k]), 1) for k in ("ingest 1", f"ingest {workers}")},
        "rss_rerun_mib": round(max(r.max_rss_mib for r in runs["rerun"]), 1),
        "rss_growth_pct": round((rss_full.median - rss_small.median) / rss_small.median * 100, 1),
        "bare_1_rss_mib": round(max(r.max_rss_mib for r in runs["bare 1"]), 1),
        # CPU time moves far less with the machine's load than wall time: what the pipeline adds as work.
        "cpu_seconds": {k: round(min(r.cpu_seconds for r in runs[k]), 2) for k in ("bare 1", "ingest 1")},
    })
    cpu = out["cpu_seconds"]
    out["cpu_overhead_pct"] = round((cpu["ingest 1"] / cpu["bare 1"] - 1) * 100, 1) if cpu["bare 1"] else None

    db = sqlite3.connect(work / "archive-1-0" / "archive.db")
    by_file = {hash_file(p)[0]: str(p) for p in files}
    ingested = dict(db.execute("SELECT blake3, text_blake3 FROM extractions"))
    out["extractions_differing_from_bare_loop"] = sum(1 for b3, path in by_file.items() if ingested.get(b3) != texts.get(path))
    out["citation_matches"] = dict(db.execute("SELECT match, count(*) FROM citations GROUP BY match"))
    db.close()
    out.update(bench_fixity(work / "archive-1-0", repeats, say))
    return out


def bench_fixity(root: Path, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    """`verify`'s fixity check against raw BLAKE3 + SHA-256 of the same files, interleaved."""
    from ingest.checks.verify import check_fixity
    from ingest.store.archive import Archive

    say("fixity (ingest.checks.verify.check_fixity) against raw BLAKE3+SHA-256 ...")
    found: dict[str, Any] = {}
    with Archive.open(root, write=False) as archive:
        paths = [archive.root / r["path"] for r in archive.db.query("SELECT path FROM files")]
        paths += [archive.root / "warc" / r["name"] for r in archive.db.query("SELECT name FROM warcs")]

        def raw(n: int) -> float:
            seconds, found["bytes"] = timed(lambda: raw_hash(paths))
            return seconds

        def fixity(n: int) -> float:
            seconds, (found["checks"], _) = timed(lambda: check_fixity(archive))
            return seconds

        series = interleave([("raw hashing", raw), ("fixity", fixity)], repeats, say)
    share = ratio(series["raw hashing"], series["fixity"])
    hashed = found["bytes"]
    return {
        "fixity_files": len(paths), "fixity_bytes": hashed,
        "fixity_not_ok": sum(1 for c in found["checks"] if c.state != "ok"),
        "raw_hash_mb_per_s": round(hashed / series["raw hashing"].min / 1e6, 1),
        "fixity_mb_per_s": round(hashed / series["fixity"].min / 1e6, 1),
        "fixity_pct_of_raw_hashing": round(share.value * 100, 1),
        "fixity_series": {k: v.as_json() for k, v in series.items()}, "fixity_ratio": share.as_json(),
    }
