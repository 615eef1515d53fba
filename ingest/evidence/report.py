"""The evidence package's human-readable report: one static HTML file, no scripts, inline CSS only.

Every value from the archive is escaped, its bidi controls shown as `<U+202E>` marks. Wording is deliberately narrow: a passing quote check
means the quoted words are present in an intact archived copy of the source captured at a given
time. It says nothing about whether the claim itself is so.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest import __version__
from ingest.checks import witnessed
from ingest.display import bidi_visible
from ingest.claims.blocks import describe, pieces, runs_for
from ingest.store.log import Head

if TYPE_CHECKING:
    from ingest.evidence.rows import CaseRows

CONTEXT = 240
CSS = """
body{font-family:Georgia,serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1,h2,h3{font-family:Helvetica,Arial,sans-serif}
code,.hash{font-family:Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;font-size:.9em}
blockquote{border-left:4px solid #999;margin:.5em 0;padding:.3em .8em;background:#f7f7f7;white-space:pre-wrap}
mark{background:#ffe36e}
.boundary{font:.75em Helvetica,Arial,sans-serif;background:#8b1a1a;color:#fff;border-radius:3px;padding:0 .3em;margin:0 .2em}
.state-drift{color:#8a4b00;font-weight:bold}.state-ok{color:#1b5e20}.state-mismatch,.state-missing{color:#b71c1c;font-weight:bold}.state-unverifiable{color:#6d4c00}
.note{background:#eef3fb;border:1px solid #b7c8e6;padding:.6em .9em}
.claim{border-top:2px solid #ddd;padding-top:.5em;margin-top:1.5em}
"""


def statement(captured_at: str) -> str:
    return (f"The quoted words are present in an intact archived copy of the source captured at {captured_at}; "
            "this does not prove the claim true.")


def current_drift(checks: list[dict[str, Any]], citations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each citation's latest drift finding and since when it holds (as the citation_drift table keeps it)."""
    anchored = {c["id"]: c["capture_id"] for c in citations}
    out: dict[str, dict[str, Any]] = {}
    for d in checks:
        if d["anchored_capture_id"] != anchored.get(d["citation_id"]):
            continue
        prev = out.get(d["citation_id"])
        since = prev["since"] if prev and prev["finding"] == d["finding"] else d["observed_at"]
        out[d["citation_id"]] = {**d, "since": since}
    return out


def claim_date(claim: dict[str, Any]) -> str:
    """The claim's date as the report states it; a date without a note says nothing about how it is known."""
    if not claim["date"]:
        return "no date"
    return f"{claim['date']} ({claim['date_note']})" if claim["date_note"] else str(claim["date"])


def _e(value: Any) -> str:
    return bidi_visible(escape("" if value is None else str(value), quote=True), html=True)


def quote_in_context(text: str, start: int, end: int, runs: Any = None) -> str:
    """The passage marked in its context; with `runs`, marked block by block, each boundary labelled."""
    before = text[max(0, start - CONTEXT):start]
    after = text[end:end + CONTEXT]
    lead = "…" if start > CONTEXT else ""
    tail = "…" if end + CONTEXT < len(text) else ""
    marked = "".join(f"<span class=\"boundary\">{_e(p['boundary'])}</span>{_e(p['text'])}" if "boundary" in p
                     else f"<mark>{_e(p['text'])}</mark>" for p in pieces(text, start, end, runs or []))
    return f"{lead}{_e(before)}{marked or '<mark></mark>'}{_e(after)}{tail}"


def write_report(path: Path, rows: CaseRows, run: dict[str, Any] | None, results: list[dict[str, Any]],
                 head: Head, versions: dict[str, str], warc_records: list[dict[str, Any]]) -> None:
    path.write_bytes(render(rows, run, results, head, versions, warc_records).encode("utf-8"))


def render(rows: CaseRows, run: dict[str, Any] | None, results: list[dict[str, Any]], head: Head,
           versions: dict[str, str], warc_records: list[dict[str, Any]]) -> str:
    case = rows.case
    t = rows.tables
    files = {f["blake3"]: f for f in t["files"]}
    captures = {c["id"]: c for c in t["captures"]}
    extractions = {e["id"]: e for e in t["extractions"]}
    sources = {s["id"]: s for s in t["sources"]}
    by_subject = {r["subject"]: r for r in results}
    drift = current_drift(t.get("drift_checks", []), t["citations"])
    witnesses = witnessed.latest_in(t)
    visibility = {v["citation_id"]: v for v in t.get("visibility", [])}
    out: list[str] = []
    w = out.append
    w("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
    w(f"<title>Evidence package: {_e(case['title'])}</title><style>{CSS}</style></head><body>")
    w(f"<h1>{_e(case['title'])}</h1>")
    w(f"<p>Case <code>{_e(case['id'])}</code>. {_e(case['description'])}</p>")
    w(f"<p>Exported by Khronika {_e(__version__)}. Log chain head <code>{_e(head)}</code>. "
      f"Extractors: {_e(', '.join(f'{k} {v}' for k, v in sorted(versions.items())))}. "
      f"Case file <code>{_e(case['case_file'])}</code>, BLAKE3 <span class=\"hash\">{_e(case['case_file_blake3'])}</span>.</p>")
    w("<p class=\"note\">What this report shows: for each citation whose check passed, the quoted words are "
      "present in an intact archived copy of the source captured at the time given. It does not show that any "
      "claim is true. Check the package itself with <code>python -m ingest verify-bag PATH --key-fingerprint FP</code>.</p>")

    w("<h2>Sources and captures</h2><table><tr><th>Source</th><th>Captured at</th><th>Method / address</th>"
      "<th>Hashes</th></tr>")
    for s in t["sources"]:
        caps = [c for c in t["captures"] if c["source_id"] == s["id"]]
        if not caps:
            why = "wanted: address not yet known" if s["wanted"] else "no capture"
            w(f"<tr><td>{_e(s['title'] or 'untitled')}<br><code>{_e(s['id'])}</code></td><td colspan=\"3\">{_e(why)}</td></tr>")
        for c in caps:
            f = files.get(c["blake3"], {})
            where = c["url"] or c["local_path"]
            w(f"<tr><td>{_e(s['title'] or 'untitled')}<br><code>{_e(s['id'])}</code> v{_e(c['version'])}</td>"
              f"<td>{_e(c['captured_at'])}</td><td>{_e(c['method'])}<br>{_e(where)}</td>"
              f"<td>content BLAKE3 <span class=\"hash\">{_e(c['blake3'])}</span><br>content SHA-256 <span class=\"hash\">"
              f"{_e(f.get('sha256'))}</span><br>{_e(f.get('size'))} bytes, {_e(c['media_type'])}</td></tr>")
    w("</table><p>Content hashes are of each file as kept in <code>data/files/</code> (a compressed response "
      "decoded); the WARC records' payload digests cover the bodies as they were sent.</p>")

    w("<h2>Claims</h2>")
    for claim in t["claims"]:
        withdrawn = " (withdrawn)" if claim["withdrawn"] else ""
        w(f"<div class=\"claim\"><h3>{_e(claim['slug'])}{_e(withdrawn)}</h3><p>{_e(claim['text'])}</p>")
        date = claim_date(claim)
        people = ", ".join(json.loads(claim["people"] or "[]"))
        w(f"<p>Date: {_e(date)}. Type: {_e(claim['type'])}. People: {_e(people or 'none named')}. "
          f"Status at export: {_e(claim['status'])} ({_e(claim['status_reason'])}).</p>")
        w(f"<p class=\"origins\">Independent origins: {_e(claim.get('origins') or 'not grouped at export')}.</p>")
        links = [link for link in t.get("origin_links", []) if link["claim_id"] == claim["id"]]
        if links:
            w("<ul class=\"origin-links\">" + "".join(f"<li>{_e(link['kind'])}: {_e(link['detail'])}</li>" for link in links)
              + "</ul>")
        if (claim.get("drift") or "none") != "none":
            w(f"<p class=\"state-drift\">Live sources since the archived copies: {_e(claim['drift'])} since "
              f"{_e(claim['drift_since'])} ({_e(claim['drift_reason'])}).</p>")
        else:
            w("<p>Live sources since the archived copies: no drift recorded.</p>")
        for ci in [c for c in t["citations"] if c["claim_id"] == claim["id"]]:
            src = sources.get(ci["source_id"], {})
            w(f"<h4>Citation {_e(ci['n'])} <code>{_e(ci['id'])}</code>: {_e(ci['stance'])}, "
              f"{_e(src.get('title') or ci['source_id'])}</h4>")
            ex = extractions.get(ci["extraction_id"])
            cap = captures.get(ci["capture_id"])
            if ex is not None and ex["text"] is not None and ci["start"] is not None:
                runs = runs_for(ex)[0] if ci["crossed"] else None
                w(f"<blockquote>{quote_in_context(ex['text'], ci['start'], ci['end'], runs)}</blockquote>")
                w(f"<p>Characters [{_e(ci['start'])}, {_e(ci['end'])}) of text <code>data/texts/{_e(ex['id'])}.txt</code> "
                  f"({_e(ex['extractor'])} {_e(ex['extractor_version'])}), match {_e(ci['match'])}.</p>")
                if ci["crossed"]:
                    joined = describe(json.loads(ci["crossed"]), ci["match"] in ("exact", "normalized"))
                    w(f"<p class=\"joined\">This passage {_e(joined)}.</p>")
                if ci.get("ocr"):
                    pdf = str(files.get(ci["blake3"], {}).get("media_type") or "").startswith("application/pdf")
                    which = f"page {ci['found_page'] or 1} of the archived PDF" if pdf else "the archived image"
                    how = "Found" if ci["match"] in ("exact", "normalized") else "Searched"
                    w(f"<p class=\"ocr\">{how} in OCR text: compare with the page image ({_e(which)} "
                      f"<code>data/files/{_e(ci['blake3'])}</code>).</p>")
            else:
                w(f"<blockquote>{_e(ci['quote'])}</blockquote><p>Not anchored ({_e(ci['match'])}): {_e(ci['reason'])}</p>")
            if cap is not None:
                f = files.get(cap["blake3"], {})
                w(f"<p>Capture {_e(cap['id'])} at {_e(cap['captured_at'])}: content BLAKE3 <span class=\"hash\">{_e(cap['blake3'])}"
                  f"</span>, content SHA-256 <span class=\"hash\">{_e(f.get('sha256'))}</span>, file <code>data/files/{_e(cap['blake3'])}</code>.</p>")
            seen = visibility.get(ci["id"])
            if seen is not None:
                why = f": {seen['reason']}" if seen["reason"] else ""
                w(f"<p class=\"visibility\">Visibility to a reader: {_e(seen['state'])}{_e(why)} (decided by "
                  f"{_e(seen['method'])} at {_e(seen['checked_at'])}).</p>")
            d = drift.get(ci["id"])
            if d is not None and d["finding"] == "quote_present":
                w(f"<p>Live source: quote still present when last checked ({_e(d['observed_at'])}).</p>")
            elif d is not None:
                w(f"<p class=\"state-drift\">Live source since the archived copy: {_e(d['finding'])} since "
                  f"{_e(d['since'])} (last checked {_e(d['observed_at'])}): {_e(d['detail'])}</p>")
            for wr in witnesses.get(ci["id"], []):  # other web archives: never part of the status
                ours = f" Our copy of it: <code>data/files/{_e(wr['blake3'])}</code>." if wr["blake3"] else ""
                w(f"<p class=\"witness\">Other archives: {_e(witnessed.phrase(wr, ci['match'] in ('exact', 'normalized')))}{ours}</p>")
                if wr["diff"]:
                    w(f"<pre>{_e(wr['diff'])}</pre>")
            res = by_subject.get(f"citation {ci['id']}")
            if res is None:
                w("<p class=\"state-unverifiable\">No quote check at export time (wanted source or not checked).</p>")
            elif res["state"] == "ok" and cap is not None:
                w(f"<p class=\"state-ok\">Quote check at export: ok. {_e(statement(cap['captured_at']))}</p>")
            else:
                w(f"<p class=\"state-{_e(res['state'])}\">Quote check at export: {_e(res['state'])}: {_e(res['detail'])}</p>")
        w("</div>")

    w("<h2>Archive checks at export time</h2>")
    if run is None:
        w("<p>No check was run before export.</p>")
    else:
        states: dict[str, int] = {}
        for r in results:
            states[r["state"]] = states.get(r["state"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
        w(f"<p>Run {_e(run['id'])} at {_e(run['checked_at'])} (<code>python -m ingest verify</code>); "
          f"checks concerning this case: {_e(summary)}.</p>")
        w("<table><tr><th>Check</th><th>Subject</th><th>State</th><th>Detail</th></tr>")
        for r in results:
            w(f"<tr><td>{_e(r['check'])}</td><td><code>{_e(r['subject'])}</code></td>"
              f"<td class=\"state-{_e(r['state'])}\">{_e(r['state'])}</td><td>{_e(r['detail'])}</td></tr>")
        w("</table>")

    w(f"<h2>WARC records</h2><p><code>data/warc/{_e(case['id'])}.warc.gz</code> holds {len(warc_records)} record(s), "
      "each a gzip member copied byte for byte from the archive's WARC files.</p><table>"
      "<tr><th>#</th><th>Type</th><th>Target</th><th>From</th><th>SHA-256 of the member</th></tr>")
    for r in warc_records:
        w(f"<tr><td>{_e(r['n'])}</td><td>{_e(r['warc_type'])}</td><td>{_e(r['target_uri'])}</td>"
          f"<td>{_e(r['warc_file'])} @ {_e(r['warc_offset'])}</td><td class=\"hash\">{_e(r['sha256'])}</td></tr>")
    w("</table></body></html>\n")
    return "\n".join(out)
