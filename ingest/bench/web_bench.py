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


def build_web_db(path: Path, docs: int, claims: int, seed: int = 7, say: Callable[[str], None] = print) -> None:
    """Fill the real schema with `docs` sources (each file, capture, attempt, extraction, FTS row) and `claims` claims."""
    from ingest.bench import synth
    from ingest.store import db as dbm

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


def bench_web(db_path: Path, requests: int, metadata_path: Path | None, say: Callable[[str], None]) -> dict[str, Any]:
    from urllib.parse import urlencode

    from datasette.app import Datasette
    from datasette.utils import tilde_encode

    from ingest.store import db as dbm

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
