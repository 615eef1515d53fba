"""The web site's pages, served by Datasette through plugins/khronika.py.

Every value that came from a source (titles, texts, quotes, URLs) reaches the page only through
Jinja with autoescape on; only http(s) URLs ever become links. The archive folder whose files/
the site serves is named by the KHRONIKA_ARCHIVE environment variable (set by `python -m ingest
serve`); without it, it is the folder above the served database (ARCHIVE/published/archive.db).
"""

from __future__ import annotations

import asyncio

import difflib
import json
import os
import re
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from datasette.database import QueryInterrupted
from markupsafe import Markup, escape

from ingest.checks import witnessed
from ingest.claims.anchor import CONTEXT as SELECTOR
from ingest.claims.blocks import describe, pieces, runs_for
from ingest.claims.cases import SOURCE_KINDS
from ingest.claims.fragments import context_words, text_directive, text_fragment_url
from ingest.claims.status import seen as unseen_reason
from ingest.display import href
from ingest.site import history, posts
from ingest.site.passages import context, fts_query, search_terms, snippet
from ingest.site.searchfilters import read_filters
from ingest.site.timeline import claim_href  # noqa: F401  (the plugin links claims through web)
from ingest.site.timeline import DRIFT_COLOUR, STATUS_STYLE, parse_date, shape, timeline_svg
from ingest.text.extraction import PDF_TYPES

DB = "archive"
HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
SLUG = r"[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?"
MAX_RESULTS = 50
PROVES = ("The quoted words are present in an intact archived copy of the source captured at {at}. "
          "This does not prove the claim true.")

CASE_STATES = (("sourced", "sourced"), ("partly_sourced", "partly sourced"), ("unsourced", "unsourced"),
               ("contested", "contested"))
VERDICTS = {0: "every check passed", 1: "a mismatch or something missing", 3: "drift in the live sources",
            4: "something could not be checked (unverifiable)"}


class NotFound(Exception):
    pass


# -- helpers that need no server -------------------------------------------------------------


def archive_root(db_path: str | None) -> Path:
    env = os.environ.get("KHRONIKA_ARCHIVE")
    if env:
        return Path(env)
    if not db_path:
        raise NotFound("no archive folder configured")
    return Path(db_path).resolve().parent.parent


def is_web_url(url: str | None) -> bool:
    if not url or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)




def page_image_href(blake3: str | None, media_type: str | None, page: int | None) -> str | None:
    """Where a reader sees what OCR read: the PDF page rendered as an image, or the archived image."""
    if not blake3:
        return None
    if (media_type or "").split(";")[0].strip() in PDF_TYPES:
        return f"/-/archive/{blake3}/page/{page or 1}.png"
    return f"/-/archive/{blake3}"


def archive_fragment_href(blake3: str | None, exact: str | None, before: str | None, after: str | None) -> str | None:
    """The archived copy, scrolled to and highlighting the quote (with the words around it, so a
    repeated quote highlights this occurrence)."""
    directive = text_directive(exact or "", before, after)
    if not blake3 or directive is None:
        return None
    return f"/-/archive/{blake3}#{directive}"


def source_href(source_id: str) -> str:
    return f"/-/source/{source_id}"


def text_diff(old: str | None, new: str | None, old_name: str, new_name: str) -> list[tuple[str, str]]:
    """Unified diff lines, each (css class, line); escaping is left to the template."""
    lines = difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), old_name, new_name, lineterm="", n=2)
    out = []
    for line in lines:
        kind = "hunk" if line.startswith("@@") else "head" if line.startswith(("---", "+++")) else \
            "add" if line.startswith("+") else "del" if line.startswith("-") else "same"
        out.append((kind, line))
    return out


def stale_notice(db_path: str | None) -> str | None:
    """Why the published copy is older than the archive, in words for a banner; None when it is current."""
    from ingest.site.publish import staleness

    try:
        why = staleness(archive_root(db_path))
    except (NotFound, OSError, sqlite3.Error):
        return None  # no archive beside the served copy (a copied database): nothing to compare with
    if why is None:
        return None
    return f"This published copy is older than the archive: {why}. It is being republished; reload in a few seconds."


# -- database access -----------------------------------------------------------------------------


async def rows(datasette: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
    result = await datasette.get_database(DB).execute(sql, params or [])
    return [dict(r) for r in result.rows]


async def one(datasette: Any, sql: str, params: Any = None) -> dict[str, Any] | None:
    found = await rows(datasette, sql, params)
    return found[0] if found else None


# The text layer's extraction (a file's OCR text is a second extraction, linked on its own).
LATEST_EXTRACTION = ("SELECT * FROM extractions WHERE blake3 = ? AND text IS NOT NULL "
                     "ORDER BY (extractor = 'tesseract'), id DESC LIMIT 1")
LATEST_OCR = "SELECT * FROM extractions WHERE blake3 = ? AND text IS NOT NULL AND extractor = 'tesseract' ORDER BY id DESC LIMIT 1"
# The earliest RFC 3161 timestamp covering the log entry that recorded capture {cap}.
TRUSTED_TIME = """(SELECT t.gen_time || ' per TSA ' || t.signer FROM timestamps t WHERE t.head_seq >= (SELECT min(l.seq)
    FROM log l WHERE l.table_name = 'captures' AND l.key = CAST({cap} AS TEXT)) ORDER BY t.gen_time, t.id LIMIT 1)"""


# -- pages -----------------------------------------------------------------------------------------


async def home_page(datasette: Any) -> dict[str, Any]:
    cases = await rows(datasette, """
        SELECT c.*, (SELECT count(*) FROM claims WHERE case_id = c.id AND withdrawn = 0) AS claim_count,
               (SELECT count(*) FROM sources WHERE case_id = c.id) AS source_count,
               (SELECT count(*) FROM sources WHERE case_id = c.id AND wanted = 1) AS wanted_count
        FROM cases c ORDER BY c.id""")
    states = await rows(datasette, """
        SELECT case_id, status, count(*) AS n, sum(drift IS NOT NULL AND drift != 'none') AS drifting
        FROM claims WHERE withdrawn = 0 GROUP BY case_id, status""")
    for case in cases:
        mine = [s for s in states if s["case_id"] == case["id"]]
        case["states"] = [(label, sum(s["n"] for s in mine if s["status"] == status), status)
                          for status, label in CASE_STATES]
        case["drifting"] = sum(s["drifting"] or 0 for s in mine)
    run = await one(datasette, "SELECT * FROM verify_runs ORDER BY id DESC LIMIT 1")
    if run is not None:
        counts = json.loads(run["counts"] or "{}")
        run["summary"] = ", ".join(f"{n} {state}" for state, n in counts.items())
        run["verdict"] = VERDICTS.get(run["exit_code"], f"exit code {run['exit_code']}")
    head = await one(datasette, "SELECT seq, hash, time FROM log ORDER BY seq DESC LIMIT 1")
    return {"cases": cases, "verify": run, "head": head}


async def claim_page(datasette: Any, case: str, slug: str) -> dict[str, Any]:
    claim = await one(datasette, "SELECT * FROM claims WHERE id = ?", [f"{case}/{slug}"])
    if claim is None:
        raise NotFound(f"no claim {case}/{slug}")
    slugs = {r["written"]: r["person_slug"] for r in await rows(
        datasette, "SELECT written, person_slug FROM claim_persons WHERE claim_id = ?", [claim["id"]])}
    claim["people_list"] = [(name, slugs.get(name)) for name in json.loads(claim["people"] or "[]")]
    cites = await rows(datasette, f"""
        SELECT ci.*, s.title AS source_title, s.outlet, s.published, s.published_after, s.url AS source_url,
               s.wanted, s.kind, cap.captured_at, cap.version, cap.url AS capture_url, cap.incomplete, f.sha256, f.media_type,
               {TRUSTED_TIME.format(cap="ci.capture_id")} AS trusted,
               e.extractor,
               v.state AS v_state, v.reason AS v_reason, v.method AS v_method, v.blake3 AS v_blake3
        FROM citations ci JOIN sources s ON s.id = ci.source_id
        LEFT JOIN captures cap ON cap.id = ci.capture_id
        LEFT JOIN files f ON f.blake3 = ci.blake3
        LEFT JOIN extractions e ON e.id = ci.extraction_id
        LEFT JOIN visibility v ON v.citation_id = ci.id
        WHERE ci.claim_id = ? ORDER BY ci.n""", [claim["id"]])
    for c in cites:
        c["found"] = c["match"] in ("exact", "normalized")
        c["unseen"] = unseen_reason(c)  # why a found quote does not count: hidden from readers, or unchecked
        c["passage"] = None
        crossed = json.loads(c["crossed"]) if c["crossed"] else []
        c["joined"] = describe(crossed, c["found"]) if crossed else None
        shown = c["found"] or c["match"] == "spans_blocks"  # a spliced passage is shown, cut at its boundaries
        if shown and c["extraction_id"] is not None and c["start"] is not None:
            ex = await one(datasette, "SELECT text, blocks, extractor FROM extractions WHERE id = ?", [c["extraction_id"]])
            if ex and ex["text"] is not None:
                c["passage"] = context(ex["text"], c["start"], c["end"])
                if crossed:
                    c["passage"]["pieces"] = pieces(ex["text"], c["start"], c["end"], runs_for(ex)[0])
        live = c["source_url"] if is_web_url(c["source_url"]) else None
        c["live_url"] = live
        before, after = context_words(c["selector_prefix"], c["selector_suffix"], kept=SELECTOR) if c["found"] else (None, None)
        c["fragment_url"] = href(text_fragment_url(live, c["exact"] or c["quote"], before, after)) if live else None
        c["at_quote"] = archive_fragment_href(c["blake3"], c["exact"], before, after) if c["found"] else None
        c["proves"] = PROVES.format(at=c["captured_at"]) if c["found"] and not c["unseen"] else None
        c["page_image"] = page_image_href(c["blake3"], c["media_type"], c["found_page"]) if c["ocr"] else None
        c["post"] = await posts.post_card(datasette, c["source_id"], c["capture_id"])
        c["browser"] = await browser_capture(datasette, c["capture_id"])
        c["marked"] = await one(datasette, "SELECT * FROM marked_screenshots WHERE citation_id = ? AND capture_id = ? "
                                           "ORDER BY id DESC LIMIT 1", [c["id"], c["capture_id"]]) if c["browser"] else None
    await history.claim_drift(datasette, claim, cites)
    await _witnesses(datasette, claim["id"], cites)
    return {"claim": claim, "citations": cites, "history": await history.claim_history(datasette, claim["id"]),
            "origins": await claim_origins(datasette, claim["id"])}


async def claim_origins(datasette: Any, claim_id: str) -> list[dict[str, Any]]:
    """The claim's origins (claims/origins), each with its sources and the evidence that joins them."""
    groups = await rows(datasette, "SELECT * FROM claim_origins WHERE claim_id = ? ORDER BY n", [claim_id])
    links = await rows(datasette, "SELECT * FROM origin_links WHERE claim_id = ? ORDER BY n", [claim_id])
    for g in groups:
        ids = json.loads(g["sources"] or "[]")
        g["source_list"] = [{"id": sid, "href": source_href(sid)} for sid in ids]
        g["outlet_list"] = json.loads(g["outlets"] or "[]")
        g["upstream_list"] = json.loads(g["upstream"] or "[]")
        g["links"] = [link for link in links if link["source_id"] in ids]
    return groups


async def _witnesses(datasette: Any, claim_id: str, cites: list[dict[str, Any]]) -> None:
    """What other web archives hold of each citation's quote (never part of its status)."""
    for c in cites:
        c["witnesses"] = []
    if not await one(datasette, "SELECT 1 FROM sqlite_master WHERE name = 'witness_checks'"):
        return
    found = await rows(datasette, witnessed.LATEST_SQL.format(where="AND cl.id = ?"), [claim_id])
    by_id = {c["id"]: c for c in cites}
    for w in found:
        w["phrase"] = witnessed.phrase(w, by_id[w["citation_id"]]["found"])
        w["memento_link"] = href(w["memento_url"]) if is_web_url(w["memento_url"]) else None
        by_id[w["citation_id"]]["witnesses"].append(w)


async def timeline_page(datasette: Any, case: str) -> dict[str, Any]:
    row = await one(datasette, "SELECT * FROM cases WHERE id = ?", [case])
    if row is None:
        raise NotFound(f"no case {case}")
    claims = await rows(datasette, "SELECT * FROM claims WHERE case_id = ? AND withdrawn = 0 ORDER BY date, id", [case])
    dated = [c for c in claims if parse_date(c["date"])]
    undated = [c for c in claims if not parse_date(c["date"])]
    used = sorted({c["status"] for c in claims if c["status"]})
    legend = [(s, *STATUS_STYLE.get(s, ("#555555", "diamond"))) for s in used]
    legend_svg = [(s, Markup(f'<svg viewBox="0 0 20 20" width="18" height="18">{shape(kind, 10, 10, colour)}</svg>'))
                  for s, colour, kind in legend]
    for c in claims:
        c["drift_label"] = history.drift_label(c["drift"], c["drift_since"])
    if any(c["drift_label"] for c in claims):
        legend_svg.append(("live source changed or gone since the archived copy", Markup(
            f'<svg viewBox="0 0 28 28" width="22" height="22"><circle cx="14" cy="14" r="11" fill="none" '
            f'stroke="{DRIFT_COLOUR}" stroke-width="2.5" stroke-dasharray="4 2"/></svg>')))
    return {"case": row, "svg": timeline_svg(claims), "dated": dated, "undated": undated, "legend": legend_svg,
            "consistency": await consistency_findings(datasette, case)}


async def consistency_findings(datasette: Any, case: str) -> dict[str, Any]:
    """The case's consistency findings from the last verify (checks/consistency), each linked to its claim or source."""
    found = await rows(datasette, "SELECT * FROM consistency_findings WHERE case_id = ? ORDER BY n", [case])
    for f in found:
        f["href"] = claim_href(f["ref"]) if f["kind"] == "claim" else source_href(f["ref"]) if f["kind"] == "source" else None
    last = await one(datasette, "SELECT max(checked_at) AS at FROM consistency_findings")
    checked = await one(datasette, "SELECT max(checked_at) AS at FROM verify_runs")
    return {"findings": found, "checked_at": (last or {}).get("at") or (checked or {}).get("at")}


async def browser_capture(datasette: Any, capture_id: int | None) -> dict[str, Any] | None:
    """The browser capture that made a capture, with its failures read, or None."""
    if capture_id is None:
        return None
    row = await one(datasette, "SELECT * FROM browser_captures WHERE capture_id = ? ORDER BY id LIMIT 1", [capture_id])
    if row is not None:
        row["failure_list"] = json.loads(row["failures"] or "[]")
    return row


async def source_page(datasette: Any, case: str, slug: str) -> dict[str, Any]:
    source = await one(datasette, "SELECT * FROM sources WHERE id = ?", [f"{case}/{slug}"])
    if source is None:
        raise NotFound(f"no source {case}/{slug}")
    source["link"] = href(source["url"]) if is_web_url(source["url"]) else None
    captures = await rows(datasette, f"""
        SELECT cap.*, f.sha256, f.size, {TRUSTED_TIME.format(cap="cap.id")} AS trusted
        FROM captures cap LEFT JOIN files f ON f.blake3 = cap.blake3
        WHERE source_id = ? ORDER BY version""", [source["id"]])
    attempts = await rows(datasette, "SELECT * FROM attempts WHERE source_id = ? ORDER BY started_at, id", [source["id"]])
    previous = None
    for cap in captures:
        ex = await one(datasette, LATEST_EXTRACTION, [cap["blake3"]])
        cap["extraction"] = ex
        cap["ocr"] = await one(datasette, LATEST_OCR, [cap["blake3"]])
        cap["browser"] = await browser_capture(datasette, cap["id"]) if cap["method"] == "browser" else None
        cap["changed"] = previous is not None and previous["blake3"] != cap["blake3"]
        cap["diff"] = None
        if cap["changed"]:
            old = previous["extraction"]["text"] if previous["extraction"] else None
            new = ex["text"] if ex else None
            cap["diff"] = text_diff(old, new, f"version {previous['version']}", f"version {cap['version']}")
        previous = cap
    citations = await rows(datasette, """
        SELECT ci.id, ci.claim_id, ci.n, ci.match, ci.quote, ci.found_in_metadata, ci.ocr, d.finding AS drift FROM citations ci
        JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0 LEFT JOIN citation_drift d ON d.citation_id = ci.id
        WHERE ci.source_id = ? ORDER BY ci.claim_id, ci.n""", [source["id"]])
    await history.source_drift(datasette, source, captures, attempts)
    return {"source": source, "captures": captures, "attempts": attempts, "citations": citations,
            "post": await posts.post_card(datasette, source["id"])}


def _case_options(cases: list[dict[str, Any]], selected: str | None) -> Markup:
    """The case filter's options as one piece of HTML: an archive of a thousand cases made the
    template's loop most of the search page's time."""
    return Markup("".join(f'<option value="{escape(c["id"])}"{" selected" if c["id"] == selected else ""}>'
                          f'{escape(c["title"])}</option>' for c in cases))


async def search_page(datasette: Any, q: str | None, args: Any = None) -> dict[str, Any]:
    q = (q or "")[:500]
    terms = search_terms(q)
    filters, problems = read_filters(args or {})
    result: dict[str, Any] = {"q": q, "terms": terms, "documents": [], "claims": [], "message": None,
                              "filters": filters, "problems": problems, "kinds": SOURCE_KINDS,
                              "case_options": _case_options(
                                  await rows(datasette, "SELECT id, title FROM cases ORDER BY id"), filters.case)}
    if not q.strip():
        result["message"] = "Type one or more words to search the archived documents and the claims."
        return result
    if not terms:
        result["message"] = "The search found no words in your query (only letters and digits are searched)."
        return result
    match = fts_query(terms)
    params = dict(filters.params(), match=match, scan=MAX_RESULTS * 4, limit=MAX_RESULTS)
    only_docs = f" AND rowid IN ({filters.documents()})" if filters.any else ""
    only_claims = f" AND rowid IN ({filters.claims()})" if filters.any else ""
    try:
        # Newest matches first, read straight off the index in rowid order: ranking every match
        # of a common word costs too much in a large archive. The two indexes are read at once,
        # each on a connection of its own (Datasette's query threads; SQLite lets go of the GIL).
        docs, claims = await asyncio.gather(rows(datasette, f"""
            SELECT e.id, e.blake3, e.title, e.text FROM
              (SELECT rowid AS id FROM extractions_fts WHERE extractions_fts MATCH :match{only_docs}
               ORDER BY rowid DESC LIMIT :scan) m
            JOIN extractions e ON e.id = m.id
            WHERE e.id = (SELECT max(id) FROM extractions WHERE blake3 = e.blake3 AND text IS NOT NULL
                          AND (extractor = 'tesseract') = (e.extractor = 'tesseract'))
            ORDER BY e.id DESC LIMIT :limit""", params), rows(datasette, f"""
            SELECT c.id, c.text, c.status, c.date, c.drift, c.drift_since FROM
              (SELECT rowid FROM claims_fts WHERE claims_fts MATCH :match{only_claims} ORDER BY rowid DESC LIMIT :scan) m
            JOIN claims c ON c.rowid = m.rowid WHERE c.withdrawn = 0
            ORDER BY c.rowid DESC LIMIT :limit""", params))
    except QueryInterrupted:
        result["message"] = "The search took too long; add words to narrow it."
        return result
    files = json.dumps(sorted({d["blake3"] for d in docs}))  # each lookup once for all the documents found
    sources = await rows(datasette, """
        SELECT DISTINCT c.blake3, s.id, s.title, s.outlet FROM captures c JOIN sources s ON s.id = c.source_id
        WHERE c.blake3 IN (SELECT value FROM json_each(?)) ORDER BY s.id""", [files])
    witnessed = await rows(datasette, """
        SELECT DISTINCT blake3, source_id, archive, memento_datetime FROM witness_captures
        WHERE blake3 IN (SELECT value FROM json_each(?)) ORDER BY source_id, archive""", [files]) if docs and await one(
        datasette, "SELECT 1 FROM sqlite_master WHERE name = 'witness_captures'") else None
    for d in docs:
        d["snippet"] = snippet(d.pop("text") or "", terms)
        d["sources"] = [{k: r[k] for k in ("id", "title", "outlet")} for r in sources if r["blake3"] == d["blake3"]]
        if witnessed is not None:  # a copy from another web archive is no source's capture: say whose witness it is
            d["witness_of"] = [{k: r[k] for k in ("source_id", "archive", "memento_datetime")}
                               for r in witnessed if r["blake3"] == d["blake3"]]
    result["documents"] = docs
    for c in claims:
        c["snippet"] = snippet(c["text"], terms, width=120)
        c["drift_label"] = history.drift_label(c["drift"], c["drift_since"])
    result["claims"] = claims
    if not docs and not claims:
        result["message"] = "Nothing found" + (f" ({filters.described()})." if filters.any else ".")
    return result
