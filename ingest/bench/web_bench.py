"""The serving benchmark: a Datasette database in the real schema at scale, latency of every page and canned query."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.bench.common import ROOT

# -- the serving part -----------------------------------------------------------------------------

WEB_OUTLETS = [f"Outlet {i:03d}" for i in range(200)]
WEB_PEOPLE = [f"Person {i:04d}" for i in range(2000)]
CLAIM_TYPES = ["detention", "search", "fine", "charge", "statement", "press-report", "release", "custody-abuse"]


DOCUMENTS_DONE = "documents-done"  # beside the database: its documents are all in


def build_web_db(path: Path, docs: int, claims: int, seed: int = 7, say: Callable[[str], None] = print,
                 resume: bool = False) -> None:
    """Fill the real schema with `docs` sources (each file, capture, attempt, extraction, FTS row) and `claims` claims.

    With `resume`, a build stopped after its documents went in goes on with the claims where it
    stopped (the word pool is drawn from the same seed first, so the claims are the same)."""
    from ingest.bench import synth
    from ingest.store import db as dbm

    rng = random.Random(seed)
    pool = [synth.sentence(rng, synth.RU_WORDS if i % 2 else synth.EN_WORDS) for i in range(20000)]
    done = path.parent / DOCUMENTS_DONE
    if resume and done.exists() and path.exists():
        fill_claims(path, docs, claims, pool, say, resume=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    dbm.open_db(path).close()
    conn = sqlite3.connect(path)
    conn.create_function("fold", 1, dbm.fold, deterministic=True)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB: the indexes of a 10M-claim build stay in memory while it fills
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
    batch = 5000
    for lo in range(0, docs, batch):
        files, sources, captures, attempts, extractions, fts = [], [], [], [], [], []
        for i in range(lo, min(docs, lo + batch)):
            case = f"case-{i % ncases:04d}"
            sid = f"{case}/s-{i:06d}"
            digest = b3("doc", i)
            idx = [rng.randrange(len(pool)) for _ in range(rng.randint(8, 40))]
            text = "\n".join(pool[k] for k in idx)
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
    conn.close()
    done.write_text("", encoding="utf-8")
    say(f"web DB: {claims} claims ...")
    fill_claims(path, docs, claims, pool, say)


_CLAIMS_SQL = """
INSERT INTO claims (id, case_id, slug, text, date, type, people, withdrawn, recorded_at, status, status_reason,
                    supporting_outlets)
WITH RECURSIVE n(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM n WHERE (m + 1) * :ncases + :c < :claims)
SELECT printf('case-%04d/c-%07d', :c, j), printf('case-%04d', :c), printf('c-%07d', j), pool.s,
       printf('20%d-%02d-%02d', 20 + j % 6, 1 + j % 12, 1 + j % 28), kinds.s, json_array(people.s), 0, :now, 'sourced',
       'all 1 supporting quote(s) present in archived captures', 1
FROM (SELECT m * :ncases + :c AS j FROM n) JOIN bench_pool pool ON pool.k = j % :npool
JOIN bench_kinds kinds ON kinds.k = j % :nkinds JOIN bench_people people ON people.k = j % :npeople
"""

# Each claim cites the first sentence of one or two documents of its own case (a second one for
# every third claim), found at offset 0 of that document's text.
_CITATIONS_SQL = """
INSERT INTO citations (id, claim_id, n, source_id, quote, stance, capture_id, blake3, extraction_id, text_blake3,
                       match, start, "end", exact, rules, score, anchored_at)
WITH RECURSIVE n(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM n WHERE (m + 1) * :ncases + :c < :claims),
cited AS (
  SELECT j, k.n AS n, ((((j * 2654435761 + k.n * 40503) % :per_case) * :ncases + :c) % :docs) AS i
  FROM (SELECT m * :ncases + :c AS j FROM n) JOIN (SELECT 1 AS n UNION ALL SELECT 2) k ON k.n = 1 OR j % 3 = 0
),
q AS (
  SELECT cited.*, e.id AS eid, e.blake3, e.text_blake3,
         substr(e.text, 1, instr(e.text || char(10), char(10)) - 1) AS quote
  FROM cited JOIN extractions e ON e.id = cited.i + 1
)
SELECT printf('case-%04d/c-%07d#%d', :c, j, n), printf('case-%04d/c-%07d', :c, j), n,
       printf('case-%04d/s-%06d', i % :ncases, i), quote, CASE n WHEN 1 THEN 'supports' ELSE 'mentions' END,
       i + 1, blake3, eid, text_blake3, 'exact', 0, length(quote), quote, '[]', 1.0, :now
FROM q ORDER BY j, n
"""


def fill_claims(path: Path, docs: int, claims: int, pool: list[str], say: Callable[[str], None],
                resume: bool = False) -> None:
    """Insert `claims` claims and their citations in SQL, case by case, with the claims' indexes and
    triggers dropped while they go in and made again at the end in one pass each (ensure_schema
    then fills claim_people and claims_fts from the claims): at 10 million claims, row by row
    from Python with every index kept current takes hours.

    Each case's claims go in one transaction, so with `resume` a build that was stopped goes on
    after the last case it finished instead of starting the claims again."""
    from ingest.store import db as dbm

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1048576")
    ncases = max(1, docs // 1000)
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name IN ('claims', 'citations', "
                                  "'claim_people') AND sql IS NOT NULL AND type IN ('index', 'trigger')").fetchall():
        kind = "TRIGGER" if sql.upper().startswith("CREATE TRIGGER") else "INDEX"
        conn.execute(f"DROP {kind} [{name}]")
    first = 0
    if resume:
        last = conn.execute("SELECT max(case_id) FROM claims").fetchone()[0]  # 'case-NNNN', or None
        first = 0 if last is None else int(last.rpartition("-")[2]) + 1
        say(f"web DB: claims resumed at case {first} of {ncases}")
    with conn:
        if not first:
            for table in ("citations", "claim_people", "claims_fts", "claims"):
                conn.execute(f"DELETE FROM [{table}]")
        for table, values in (("bench_pool", pool), ("bench_kinds", CLAIM_TYPES), ("bench_people", WEB_PEOPLE)):
            conn.execute(f"CREATE TEMP TABLE {table} (k INTEGER PRIMARY KEY, s TEXT)")
            conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", enumerate(values))
    params = {"ncases": ncases, "claims": claims, "docs": docs, "per_case": max(1, docs // ncases),
              "now": "2025-06-01T00:00:00.000000Z", "npool": len(pool), "nkinds": len(CLAIM_TYPES),
              "npeople": len(WEB_PEOPLE)}
    for c in range(first, min(ncases, claims)):
        with conn:
            conn.execute(_CLAIMS_SQL, {**params, "c": c})
            conn.execute(_CITATIONS_SQL, {**params, "c": c})
        if c % 100 == 99:
            say(f"web DB: claims of {c + 1} of {ncases} cases ...")
    conn.close()
    say("web DB: indexes, claim_people and claims_fts ...")
    dbm.open_db(path).close()


def plan_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection with the SQL functions the site registers (fold, person_key)."""
    from ingest.claims.people import name_key
    from ingest.store import db as dbm

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.create_function("fold", 1, dbm.fold, deterministic=True)
    conn.create_function("person_key", 1, name_key, deterministic=True)
    return conn


def find_metadata(explicit: Path | None) -> Path | None:
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


def bench_web(db_path: Path, requests: int, metadata_path: Path | None, say: Callable[[str], None],
              inspect_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Latency of every page and canned query. With `inspect_data` the database is a published
    snapshot, opened immutable as `serve` opens it; without, a working database (indexes added first)."""
    from urllib.parse import urlencode

    from datasette.app import Datasette
    from datasette.utils import tilde_encode

    from ingest.store import db as dbm

    if inspect_data is None:
        dbm.open_db(db_path).close()  # indexes added since the DB was built
    meta = _load_metadata(metadata_path)
    kwargs: dict[str, Any] = {"metadata": meta}
    if (ROOT / "plugins").is_dir():
        kwargs["plugins_dir"] = str(ROOT / "plugins")
    if (ROOT / "templates").is_dir():
        kwargs["template_dir"] = str(ROOT / "templates")
    if inspect_data is None:
        ds = Datasette([str(db_path)], **kwargs)
    else:
        ds = Datasette([], immutables=[str(db_path)], inspect_data=inspect_data, **kwargs)
    dbname = db_path.stem
    conn = plan_connection(db_path)
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
