"""Benchmarks (`make bench`): ingest against a bare extraction loop, workers, re-runs, fixity, memory, Datasette latency.

Everything is measured in one run on the same files. Ingest runs are the real command
(`python -m ingest run --offline`) in a child process, timed from start to exit, with the
child's peak RSS from wait4(2); the bare loop is a child process too (same interpreter
start-up and imports), so the difference is what the pipeline adds: hashing, storing,
the WARC, the log, the database, the sandboxed worker per file and anchoring.

Example: python -m ingest.bench --quick
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("blake3", "trafilatura", "pypdf", "datasette", "sqlite-utils", "charset-normalizer", "reportlab")

# name -> (comparison, threshold, unit); "min" means the measurement must be at least the threshold.
TARGETS: dict[str, tuple[str, float, str]] = {
    "pipeline_overhead_pct": ("max", 15.0, "%"),
    "worker_scaling_pct_of_bare": ("min", 90.0, "%"),
    "rerun_speedup": ("min", 50.0, "x"),
    "fixity_pct_of_raw_hashing": ("min", 70.0, "%"),
    "rss_growth_pct": ("max", 10.0, "%"),
    "web_p95_ms": ("max", 150.0, "ms"),
}


# -- measuring child processes ---------------------------------------------------------------


@dataclass
class ChildRun:
    seconds: float
    max_rss_mib: float
    returncode: int
    stderr_tail: str


def run_child(args: list[str], log: Path) -> ChildRun:
    """Run a command to completion; wall time and the child's own peak RSS (not its workers')."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with open(log, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
    return ChildRun(seconds, usage.ru_maxrss / 1024, proc.returncode, tail)


def ingest(case: Path, archive: Path, workers: int, log: Path) -> ChildRun:
    run = run_child([sys.executable, "-m", "ingest", "run", str(case), "--archive", str(archive),
                     "--offline", "--workers", str(workers)], log)
    if run.returncode != 0:
        raise click.ClickException(f"ingest into {archive} exited {run.returncode}:\n{run.stderr_tail}")
    return run


def bare(files: list[Path], workers: int, work: Path, tag: str) -> tuple[ChildRun, dict[str, str | None]]:
    listing = work / f"bare-{tag}.list"
    out = work / f"bare-{tag}.json"
    listing.write_text("\n".join(str(p) for p in files) + "\n", encoding="utf-8")
    run = run_child([sys.executable, "-c", "import sys; from ingest.bench import bare_main; bare_main(sys.argv[1:])",
                     str(listing), str(workers), str(out)], work / f"bare-{tag}.log")
    if run.returncode != 0:
        raise click.ClickException(f"bare extraction loop exited {run.returncode}:\n{run.stderr_tail}")
    return run, json.loads(out.read_text(encoding="utf-8"))


def _bare_one(path: str) -> tuple[str, str | None]:
    import mimetypes

    from ingest.extract import extract
    from ingest.fetch import sniff_media_type

    data = Path(path).read_bytes()
    ex = extract(data, sniff_media_type(data, mimetypes.guess_type(path)[0]))
    return path, ex.text_blake3


def bare_main(argv: list[str]) -> None:
    """Child entry point: extract every listed file with ingest.extract.extract, nothing else."""
    import multiprocessing

    import ingest.extract  # noqa: F401  (imported before forking, as the pipeline does)

    listing, workers, out = argv[0], int(argv[1]), argv[2]
    paths = [p for p in Path(listing).read_text(encoding="utf-8").splitlines() if p]
    if workers == 1:
        results = dict(map(_bare_one, paths))
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = dict(pool.imap_unordered(_bare_one, paths))
    Path(out).write_text(json.dumps(results), encoding="utf-8")


# -- hashing ------------------------------------------------------------------------------------


def raw_hash(paths: list[Path]) -> int:
    """BLAKE3 and SHA-256 of each file, read in 1 MiB chunks: the floor any fixity check sits on."""
    import blake3

    total = 0
    for path in paths:
        b3, sha = blake3.blake3(), hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                b3.update(chunk)
                sha.update(chunk)
                total += len(chunk)
        b3.hexdigest(), sha.hexdigest()
    return total


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, value = float("inf"), None
    for _ in range(n):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


# -- the ingest part ------------------------------------------------------------------------------


def bench_ingest(work: Path, docs: int, claims: int, workers: int, corpus: Path | None, say: Callable[[str], None]) -> dict[str, Any]:
    from ingest import synth
    from ingest.store import hash_file

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
    from ingest.archive import Archive
    from ingest.verify import check_fixity

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


# -- the serving part -----------------------------------------------------------------------------

WEB_OUTLETS = [f"Outlet {i:03d}" for i in range(200)]
WEB_PEOPLE = [f"Person {i:04d}" for i in range(2000)]
CLAIM_TYPES = ["detention", "search", "fine", "charge", "statement", "press-report", "release", "custody-abuse"]


def build_web_db(path: Path, docs: int, claims: int, seed: int = 7, say: Callable[[str], None] = print) -> None:
    """Fill the real schema with `docs` sources (each file, capture, attempt, extraction, FTS row) and `claims` claims."""
    from ingest import db as dbm
    from ingest import synth

    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    dbm.open_db(path).close()
    rng = random.Random(seed)
    pool = [synth.sentence(rng, synth.RU_WORDS if i % 2 else synth.EN_WORDS) for i in range(20000)]
    conn = sqlite3.connect(path)
    conn.create_function("fold", 1, dbm.fold, deterministic=True)
    conn.execute("PRAGMA synchronous=OFF")
    ncases = max(1, docs // 1000)
    now = "2025-06-01T00:00:00.000000Z"

    def insert(table: str, rows: Any) -> None:
        cols = list(dbm.SCHEMA[table]["columns"])
        sql = f"INSERT INTO [{table}] ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        conn.executemany(sql, (tuple(r.get(c) for c in cols) for r in rows))

    def b3(kind: str, n: int) -> str:
        return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()  # a stand-in 64-hex digest

    with conn:
        insert("files", ({"blake3": b3("case", c), "sha256": b3("case-sha", c), "size": 1000, "media_type": "application/yaml",
                          "path": f"files/{b3('case', c)[:2]}/{b3('case', c)}", "stored_at": now} for c in range(ncases)))
        insert("cases", ({"id": f"case-{c:04d}", "title": f"Synthetic case {c}", "description": pool[c],
                          "case_file": f"cases/case-{c:04d}.yml", "case_file_blake3": b3("case", c), "recorded_at": now}
                         for c in range(ncases)))
    say(f"web DB: {docs} documents ...")
    quotes: list[tuple[int, int, int]] = []  # per doc: (pool index, start, end) of one sentence in its text
    batch = 5000
    for lo in range(0, docs, batch):
        files, sources, captures, attempts, extractions, fts = [], [], [], [], [], []
        for i in range(lo, min(docs, lo + batch)):
            case = f"case-{i % ncases:04d}"
            sid = f"{case}/s-{i:06d}"
            digest = b3("doc", i)
            idx = [rng.randrange(len(pool)) for _ in range(rng.randint(8, 40))]
            text = "\n".join(pool[k] for k in idx)
            q = rng.randrange(len(idx))
            start = text.find(pool[idx[q]])
            quotes.append((idx[q], start, start + len(pool[idx[q]])))
            title = pool[idx[0]][:60]
            files.append({"blake3": digest, "sha256": b3("sha", i), "size": len(text) * 2, "media_type": "text/html",
                          "path": f"files/{digest[:2]}/{digest}", "stored_at": now})
            sources.append({"id": sid, "case_id": case, "slug": f"s-{i:06d}", "title": title, "kind": "report",
                            "outlet": WEB_OUTLETS[i % len(WEB_OUTLETS)], "language": "ru" if i % 2 else "en",
                            "published": f"20{20 + i % 6}-{1 + i % 12:02d}-{1 + i % 28:02d}", "method": "local_file",
                            "path": f"docs/s-{i:06d}.html", "wanted": 0, "recorded_at": now})
            captures.append({"id": i + 1, "source_id": sid, "version": 1, "blake3": digest, "captured_at": now,
                             "method": "local_file", "media_type": "text/html", "local_path": f"docs/s-{i:06d}.html",
                             "tool": "khronika/bench", "proxy_used": 0})
            attempts.append({"id": i + 1, "source_id": sid, "started_at": now, "method": "local_file",
                             "outcome": "captured", "capture_id": i + 1, "blake3": digest})
            extractions.append({"id": i + 1, "blake3": digest, "extractor": "trafilatura", "extractor_version": "bench",
                                "options": "{}", "text": text, "text_blake3": b3("text", i), "text_length": len(text),
                                "title": title, "language": "ru" if i % 2 else "en", "charset": "utf-8",
                                "charset_source": "meta", "extracted_at": now})
            fts.append((i + 1, dbm.fold(title), dbm.fold(text)))
        with conn:
            insert("files", files)
            insert("sources", sources)
            insert("captures", captures)
            insert("attempts", attempts)
            insert("extractions", extractions)
            conn.executemany("INSERT INTO extractions_fts(rowid, title, text) VALUES (?, ?, ?)", fts)
    say(f"web DB: {claims} claims ...")
    for lo in range(0, claims, batch * 4):
        rows, cits = [], []
        for j in range(lo, min(claims, lo + batch * 4)):
            case_n = j % ncases
            cid = f"case-{case_n:04d}/c-{j:07d}"
            rows.append({"id": cid, "case_id": f"case-{case_n:04d}", "slug": f"c-{j:07d}", "text": pool[j % len(pool)],
                         "date": f"20{20 + j % 6}-{1 + j % 12:02d}-{1 + j % 28:02d}", "type": CLAIM_TYPES[j % len(CLAIM_TYPES)],
                         "people": json.dumps([WEB_PEOPLE[j % len(WEB_PEOPLE)]]), "withdrawn": 0, "recorded_at": now,
                         "status": "sourced", "status_reason": "all 1 supporting quote(s) present in archived captures",
                         "supporting_outlets": 1})
            for n in range(1, 2 + (j % 3 == 0)):
                # a document of the same case: docs i with i % ncases == case_n
                i = (rng.randrange(max(1, docs // ncases)) * ncases + case_n) % docs
                k, start, end = quotes[i]
                cits.append({"id": f"{cid}#{n}", "claim_id": cid, "n": n, "source_id": f"case-{i % ncases:04d}/s-{i:06d}",
                             "quote": pool[k], "stance": "supports" if n == 1 else "mentions", "capture_id": i + 1,
                             "blake3": b3("doc", i), "extraction_id": i + 1, "text_blake3": b3("text", i), "match": "exact",
                             "start": start, "end": end, "exact": pool[k], "rules": "[]", "score": 1.0, "anchored_at": now})
        with conn:
            insert("claims", rows)
            insert("citations", cits)
    conn.close()


def _find_metadata(explicit: Path | None) -> Path | None:
    if explicit is not None:
        return explicit
    for name in ("metadata.yml", "metadata.yaml", "metadata.json"):
        for folder in (ROOT, ROOT / "web", ROOT / "ingest"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load_metadata(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    text = path.read_text(encoding="utf-8")
    return (yaml.safe_load(text) if path.suffix in (".yml", ".yaml") else json.loads(text)) or {}


def canned_queries(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every canned query metadata defines, for any database, by name."""
    out: dict[str, dict[str, Any]] = {}
    for dbconf in (meta.get("databases") or {}).values():
        for name, q in ((dbconf or {}).get("queries") or {}).items():
            q = {"sql": q} if isinstance(q, str) else dict(q)
            if not q.get("write"):
                out[name] = q
    return out


def _samples(conn: sqlite3.Connection) -> dict[str, str]:
    claim = conn.execute("SELECT id, case_id, slug, date, type, people FROM claims LIMIT 1 OFFSET 1234").fetchone() \
        or conn.execute("SELECT id, case_id, slug, date, type, people FROM claims LIMIT 1").fetchone()
    source = conn.execute("SELECT id, slug, outlet FROM sources LIMIT 1 OFFSET 567").fetchone() \
        or conn.execute("SELECT id, slug, outlet FROM sources LIMIT 1").fetchone()
    blake3 = conn.execute("SELECT blake3 FROM captures LIMIT 1").fetchone()
    return {
        "claim": claim[0], "case": claim[1], "claim_slug": claim[2], "date": claim[3] or "2024-01-01", "type": claim[4] or "",
        "person": (json.loads(claim[5] or "[]") or [""])[0], "source": source[0], "source_slug": source[1],
        "outlet": source[2] or "", "blake3": blake3[0] if blake3 else "", "q": "суд",
    }


def param_value(name: str, s: dict[str, str]) -> str:
    """A plausible value for a canned query's named parameter, judged by its name."""
    n = name.lower()
    rules = [
        (("q", "term", "search", "query", "text", "words"), s["q"]),
        (("blake3", "hash", "sha", "digest"), s["blake3"]),
        (("claim_slug",), s["claim_slug"]), (("source_slug",), s["source_slug"]),
        (("claim",), s["claim"]), (("source",), s["source"]), (("case",), s["case"]),
        (("from", "since", "start", "after"), "2020-01-01"), (("until", "end", "before", "to"), "2030-12-31"),
        (("date", "day"), s["date"]), (("person", "people", "name"), s["person"]), (("outlet",), s["outlet"]),
        (("type", "kind"), s["type"]), (("status",), "sourced"), (("slug",), s["claim_slug"]), (("id",), s["claim"]),
        (("limit", "size", "n"), "20"), (("page", "offset"), "0"),
    ]
    for keys, value in rules:
        if n in keys or any(k in n for k in keys if len(k) > 2):
            return value
    return s["q"]


def query_plan(conn: sqlite3.Connection, sql: str, params: dict[str, Any] | list[Any]) -> tuple[list[str], list[str]]:
    """EXPLAIN QUERY PLAN lines, and the lines that scan a whole table without an index."""
    lines = [r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    scans = [ln for ln in lines if re.match(r"SCAN (?!.*(USING (COVERING )?INDEX|VIRTUAL TABLE|CONSTANT ROW))", ln)
             and "VIRTUAL TABLE" not in ln]
    return lines, scans


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


SEARCH_SQL = ("SELECT e.id, e.blake3, e.title, e.language FROM extractions_fts "
              "JOIN extractions e ON e.id = extractions_fts.rowid "
              "WHERE extractions_fts MATCH :q ORDER BY rank LIMIT 20")
SEARCH_TERMS = ["суд", "прокурор листовка", "witness", "\"court hearing\"", "ёлка", "archive", "обыск OR задержание", "leaflet"]


async def _measure(ds: Any, paths: list[str]) -> dict[str, Any]:
    warm = await ds.client.get(paths[0])
    times, statuses = [], {}
    for p in paths:
        start = time.perf_counter()
        resp = await ds.client.get(p)
        times.append((time.perf_counter() - start) * 1000)
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
    return {"requests": len(paths), "p50_ms": round(statistics.median(times), 1), "p95_ms": round(_percentile(times, 95), 1),
            "max_ms": round(max(times), 1), "statuses": statuses, "warmup_status": warm.status_code, "example": paths[0]}


def bench_web(db_path: Path, requests: int, metadata_path: Path | None, say: Callable[[str], None]) -> dict[str, Any]:
    from urllib.parse import urlencode

    from datasette.app import Datasette
    from datasette.utils import tilde_encode

    from ingest import db as dbm

    dbm.open_db(db_path).close()  # indexes added since the DB was built
    meta = _load_metadata(metadata_path)
    kwargs: dict[str, Any] = {"metadata": meta}
    if (ROOT / "plugins").is_dir():
        kwargs["plugins_dir"] = str(ROOT / "plugins")
    if (ROOT / "templates").is_dir():
        kwargs["template_dir"] = str(ROOT / "templates")
    ds = Datasette([str(db_path)], **kwargs)
    dbname = db_path.stem
    conn = sqlite3.connect(db_path)
    conn.create_function("fold", 1, dbm.fold, deterministic=True)
    rng = random.Random(11)
    nclaims = conn.execute("SELECT max(rowid) FROM claims").fetchone()[0]
    nsources = conn.execute("SELECT max(rowid) FROM sources").fetchone()[0]

    def pick(table: str, n: int) -> list[tuple[str, ...]]:
        cols = "id, case_id, slug"
        return [conn.execute(f"SELECT {cols} FROM {table} WHERE rowid = ?", [rng.randint(1, n)]).fetchone() for _ in range(requests)]

    claims, sources = pick("claims", nclaims), pick("sources", nsources)
    s = _samples(conn)
    routes: dict[str, dict[str, Any]] = {}
    plans: dict[str, dict[str, Any]] = {}

    def plan(name: str, sql: str, params: Any) -> None:
        lines, scans = query_plan(conn, sql, params)
        plans[name] = {"sql": sql, "params": params, "plan": lines, "full_scans": scans}

    plan("claim row", "SELECT * FROM claims WHERE id = :id", {"id": s["claim"]})
    plan("claim row: citations count", "SELECT count(*) FROM citations WHERE claim_id = :id", {"id": s["claim"]})
    plan("source row", "SELECT * FROM sources WHERE id = :id", {"id": s["source"]})
    for table in ("captures", "attempts", "citations"):
        plan(f"source row: {table} count", f"SELECT count(*) FROM {table} WHERE source_id = :id", {"id": s["source"]})
    plan("full-text search", SEARCH_SQL, {"q": dbm.fold(SEARCH_TERMS[0])})

    jobs: dict[str, list[str]] = {
        "claim page /archive/claims/<pk>": [f"/{dbname}/claims/{tilde_encode(c[0])}" for c in claims],
        "source page /archive/sources/<pk>": [f"/{dbname}/sources/{tilde_encode(c[0])}" for c in sources],
        "full-text search (SQL page)": [f"/{dbname}?" + urlencode({"sql": SEARCH_SQL, "q": dbm.fold(SEARCH_TERMS[i % len(SEARCH_TERMS)])})
                                        for i in range(requests)],
        "custom /-/claim/<case>/<slug>": [f"/-/claim/{c[1]}/{c[2]}" for c in claims],
        "custom /-/source/<case>/<slug>": [f"/-/source/{c[1]}/{c[2]}" for c in sources],
        "custom /-/search?q=": ["/-/search?" + urlencode({"q": SEARCH_TERMS[i % len(SEARCH_TERMS)]}) for i in range(requests)],
    }
    for name, q in canned_queries(meta).items():
        params = {p: param_value(p, s) for p in _named_params(q["sql"], q.get("params"))}
        jobs[f"canned query {name}"] = [f"/{dbname}/{name}?" + urlencode(params)] * requests
        try:
            plan(f"canned query {name}", q["sql"], params)
        except sqlite3.Error as exc:
            plans[f"canned query {name}"] = {"sql": q["sql"], "params": params, "error": str(exc)}

    from datasette.plugins import pm

    # Routes that plugins register (the project's own pages), if any are installed at run time.
    custom = [re.compile(regex) for routes in pm.hook.register_routes(datasette=ds) for regex, _ in (routes or [])]

    async def go() -> None:
        for name, paths in jobs.items():
            if name.startswith("custom"):
                if not any(r.fullmatch(paths[0].split("?")[0]) for r in custom):
                    routes[name] = {"absent": True}
                    continue
            say(f"  {name} x{len(paths)} ...")
            routes[name] = await _measure(ds, paths)

    asyncio.run(go())
    conn.close()
    measured = [r["p95_ms"] for r in routes.values() if "p95_ms" in r]
    return {"metadata": str(metadata_path) if metadata_path else None, "routes": routes, "plans": plans,
            "web_p95_ms": max(measured) if measured else None,
            "queries_with_full_scans": sorted(k for k, v in plans.items() if v.get("full_scans"))}


def _named_params(sql: str, declared: Any) -> list[str]:
    found = re.findall(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)", re.sub(r"'[^']*'", "''", sql))
    return list(dict.fromkeys(list(declared or []) + found))


# -- machine and report ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(ram, 1), "python": platform.python_version(),
            "platform": platform.platform(), "sqlite": sqlite3.sqlite_version, "packages": versions,
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def verdict(name: str, value: float | None) -> str:
    if value is None:
        return "not measured"
    kind, target, unit = TARGETS[name]
    if (value <= target) if kind == "max" else (value >= target):
        return "met"
    if unit == "x":
        return f"missed: {value:g}{unit}, {target / value:.1f}x short of {target:g}{unit}"
    return f"missed by {abs(value - target):.1f} {unit}"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}, SQLite {m['sqlite']}; "
             + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + f". Load average at start {m['load_average_at_start']}.",
             "", "| measurement | result | target | verdict |", "|---|---|---|---|"]
    ing = results.get("ingest")
    if ing:
        w = ing["workers"]
        lines += [
            f"| corpus | {ing['documents']} documents ({ing['pdfs']} PDF), {ing['bytes'] / 1e6:.1f} MB, {ing['claims']} claims | | |",
            f"| ingest, 1 worker vs bare extraction loop | {ing['ingest_1_seconds']:.2f} s vs {ing['bare_1_seconds']:.2f} s: "
            f"overhead {ing['pipeline_overhead_pct']}% | ≤ 15% | {verdict('pipeline_overhead_pct', ing['pipeline_overhead_pct'])} |",
            f"| ingest, {w} workers vs 1 | {ing[f'ingest_{w}_seconds']:.2f} s: speedup {ing['ingest_speedup']}x; bare loop "
            f"{ing[f'bare_{w}_seconds']:.2f} s: {ing['bare_speedup']}x; ratio {ing['worker_scaling_pct_of_bare']}% | ≥ 90% | "
            f"{verdict('worker_scaling_pct_of_bare', ing['worker_scaling_pct_of_bare'])} |",
            f"| second ingest, unchanged | {ing['rerun_seconds']:.2f} s: {ing['rerun_speedup']}x faster | ≥ 50x (≥ 2,000 docs) | "
            f"{verdict('rerun_speedup', ing['rerun_speedup'])} |",
            f"| fixity vs raw BLAKE3+SHA-256 | {ing['fixity_mb_per_s']} vs {ing['raw_hash_mb_per_s']} MB/s "
            f"({ing['fixity_files']} files): {ing['fixity_pct_of_raw_hashing']}% | ≥ 70% | {verdict('fixity_pct_of_raw_hashing', ing['fixity_pct_of_raw_hashing'])} |",
            f"| ingest peak RSS | {', '.join(f'{v} MiB at {k}' for k, v in ing['rss_mib'].items())}: {ing['rss_growth_pct']:+}% | "
            f"flat (≤ +10%) | {verdict('rss_growth_pct', ing['rss_growth_pct'])} |",
            f"| quotes anchored | {ing['citation_matches']} | all exact | "
            f"{'met' if set(ing['citation_matches']) <= {'exact'} else 'missed'} |",
            f"| extractions equal to bare loop's | {ing['documents'] - ing['extractions_differing_from_bare_loop']} of {ing['documents']} | all | "
            f"{'met' if not ing['extractions_differing_from_bare_loop'] else 'missed'} |",
        ]
    web = results.get("web")
    if web:
        lines.append(f"| Datasette DB | {web['documents']} documents, {web['claims']} claims, {web['db_mib']} MiB | | |")
        for name, r in web["routes"].items():
            if r.get("absent"):
                lines.append(f"| {name} | route absent | | not measured |")
            else:
                lines.append(f"| {name} | p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms ({r['requests']} requests, HTTP {r['statuses']}) "
                             f"| p95 < 150 ms | {verdict('web_p95_ms', r['p95_ms'])} |")
        scans = web["queries_with_full_scans"]
        lines.append(f"| queries scanning a table | {', '.join(scans) or 'none'} | none | {'met' if not scans else 'missed'} |")
    return "\n".join(lines)


def plans_text(web: dict[str, Any]) -> str:
    out = []
    for name, p in web["plans"].items():
        out.append(f"{name}:\n  {p['sql']}\n  params {p['params']}")
        out += [f"    {ln}" for ln in p.get("plan", [])] or [f"    error: {p.get('error')}"]
    return "\n".join(out)


@click.command()
@click.option("--docs", type=click.IntRange(1), default=2000, show_default=True, help="Synthetic corpus size.")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Use the documents in this folder (*.html, *.html.gz, *.pdf, *.txt) instead of a synthetic corpus.")
@click.option("--claims", type=click.IntRange(0), default=None, help="Claims in the case file [default: one per document].")
@click.option("--workers", type=click.IntRange(1, 64), default=os.cpu_count() or 1, show_default=True)
@click.option("--web-docs", type=click.IntRange(1), default=100_000, show_default=True)
@click.option("--web-claims", type=click.IntRange(1), default=1_000_000, show_default=True)
@click.option("--requests", type=click.IntRange(1), default=50, show_default=True, help="Requests per Datasette route.")
@click.option("--metadata", "metadata_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Datasette metadata with canned queries [default: metadata.yml in the repository, if any].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("bench-results/results.json"), show_default=True)
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results/work"), show_default=True,
              help="Scratch folder (corpus, archives, the Datasette DB, kept between runs).")
@click.option("--quick", is_flag=True, help="Small sizes: 200 documents, a 2,000-document / 20,000-claim Datasette DB.")
@click.option("--skip-ingest", is_flag=True)
@click.option("--skip-web", is_flag=True)
def main(docs: int, corpus: Path | None, claims: int | None, workers: int, web_docs: int, web_claims: int, requests: int,
         metadata_path: Path | None, out: Path, work: Path, quick: bool, skip_ingest: bool, skip_web: bool) -> None:
    """Measure ingest, re-runs, fixity, memory and Datasette latency; write JSON and print a Markdown table.

    Example: python -m ingest.bench --docs 2000 --workers 2
    """
    if quick:
        docs, web_docs, web_claims, requests = min(docs, 200), min(web_docs, 2000), min(web_claims, 20000), min(requests, 20)
    if claims is None:  # one claim per document
        claims = docs if corpus is None else sum(
            1 for p in corpus.iterdir() if p.name.endswith((".html", ".html.gz", ".pdf", ".txt")))
    work, out = work.resolve(), out.resolve()
    say = lambda s: click.echo(s, err=True)  # noqa: E731
    results: dict[str, Any] = {"machine": machine(), "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "note": "measured while other processes may share the machine; see load averages"}
    if not skip_ingest:
        results["ingest"] = bench_ingest(work / "ingest", 0 if corpus and docs == 2000 else docs, claims, workers, corpus, say)
    if not skip_web:
        db_path = work / f"web-{web_docs}-{web_claims}" / "archive.db"
        if not (db_path.parent / "complete").exists():
            start = time.perf_counter()
            build_web_db(db_path, web_docs, web_claims, say=say)
            (db_path.parent / "complete").write_text(f"{time.perf_counter() - start:.1f} s\n")
        say(f"Datasette at {web_docs} documents, {web_claims} claims ...")
        web = bench_web(db_path, requests, _find_metadata(metadata_path), say)
        web.update(documents=web_docs, claims=web_claims, db_mib=round(db_path.stat().st_size / 2**20, 1))
        results["web"] = web
        click.echo(plans_text(web))
        click.echo("")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    click.echo(markdown(results))
    click.echo(f"\nresults written to {out}", err=True)


if __name__ == "__main__":
    main()
