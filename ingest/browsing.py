"""The run's browser captures: a page rendered in Chromium, recorded in the archive and the run's WARC.

For one source (`capture: browser`, or `run --browser auto` for a page whose HTTP capture is
`incomplete`) the run writes, in this order, to its WARC: every exchange the recording proxy saw
(request and response records, bodies as received), one metadata record per HTTPS origin with
its certificate chain, resource records for the rendered DOM, the screenshot and the
print-to-PDF, and last a metadata record with the provenance (which lists the place of every
record before it). The DOM, screenshot, PDF and provenance are also content-addressed files; the
DOM is the capture's file, so its text is extracted and its quotes anchored like any page's.
"""

from __future__ import annotations

import json
from typing import Any

from ingest.capture.browser import COMPLETE, FAILED, BrowserCapture, BrowserOptions, capture
from ingest.capture.chromium import BrowserUnavailable
from ingest.capture.proxy import ProxyUnavailable
from ingest.claims.cases import Case, Source
from ingest.claims.recording import next_id, source_key, store
from ingest.store import db as dbm

METHOD = "browser"


def _options(runner: Any) -> BrowserOptions:
    """The run's browser options with the fetch settings that apply to every capture (address policy, CAs)."""
    import dataclasses
    import os

    fetch = runner._fetch_config()
    env = os.environ.get("KHRONIKA_ALLOW_PRIVATE", "").strip().lower() in ("1", "true", "yes")
    resolve = tuple(f"{host}:{port}:{','.join(addrs)}" for (host, port), addrs in sorted(fetch.resolve.items()))
    return dataclasses.replace(runner.options.browser, allow_private=fetch.allow_private or env, ca_file=fetch.ca_file,
                               resolve=resolve)


def capture_source(runner: Any, source: Source, sid: str, previous: dict[str, Any] | None, moved: bool) -> None:
    """Capture a URL source in the browser and record what came of it (never raises for the page)."""
    assert source.url is not None
    if runner._fetch_config().proxy:
        # The recording proxy would connect directly: never let a capture meant for a proxy leave without it.
        reason = "browser capture through --proxy is not supported yet; capture this source over HTTP"
        runner._attempt(sid, METHOD, source.url, "refused", reason)
        runner._result(sid, "failed", f"refused: {reason}")
        return
    try:
        cap = capture(source.url, _options(runner))
    except (BrowserUnavailable, ProxyUnavailable) as exc:
        runner._attempt(sid, METHOD, source.url, "failed", str(exc))
        runner._result(sid, "failed", f"failed: {exc}")
        return
    record(runner, sid, source.url, cap, previous, moved)


def _uri(kind: str, url: str) -> str:
    return f"urn:khronika:browser:{kind}:{url}"


def record(runner: Any, sid: str, url: str, cap: BrowserCapture, previous: dict[str, Any] | None, moved: bool) -> None:
    archive, warc = runner.archive, runner.warc
    places: list[dict[str, Any]] = []
    for hop in cap.recorded.exchanges:
        ref = warc.write_exchange(hop)
        places.append({"record": "response", "url": hop.url, "status": hop.status, "offset": ref.offset})
    for origin, chain in sorted(cap.recorded.chains.items()):
        ref = warc.write_metadata(origin + "/", "".join(chain).encode("ascii"), "application/pem-certificate-chain",
                                  cap.started_at)
        places.append({"record": "certificate-chain", "url": origin + "/", "offset": ref.offset})
    files: dict[str, str | None] = {"dom": None, "screenshot": None, "pdf": None}
    dom_ref = None
    for kind, data, media in (("dom", cap.dom, "text/html; charset=utf-8"), ("screenshot", cap.screenshot, "image/png"),
                              ("pdf", cap.pdf, "application/pdf")):
        if data is None:
            continue
        files[kind] = store(archive, data, media.split(";")[0])
        ref = warc.write_resource(_uri(kind, url), data, media, cap.started_at)
        places.append({"record": kind, "url": _uri(kind, url), "offset": ref.offset, "blake3": files[kind]})
        dom_ref = ref if kind == "dom" else dom_ref
    prov = {**cap.provenance, "warc_file": warc.name, "records": places, "tool": cap.tool or cap.provenance["tool"]}
    prov_bytes = json.dumps(prov, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    prov_b3 = store(archive, prov_bytes, "application/json")
    prov_ref = warc.write_metadata(url, prov_bytes, "application/json", cap.started_at)

    doc = cap.document
    cid = None
    if cap.outcome == FAILED:
        runner._attempt(sid, METHOD, url, "failed", cap.reason, started_at=cap.started_at, status=cap.status,
                        warc_ref=prov_ref)
        runner._result(sid, "failed", f"failed: browser capture: {cap.reason}")
    elif previous is not None and previous["blake3"] == files["dom"] and not moved:
        runner._attempt(sid, METHOD, url, "unchanged", None, started_at=cap.started_at, status=cap.status,
                        capture_id=previous["id"], blake3=files["dom"], warc_ref=dom_ref)
        runner._result(sid, "unchanged", f"unchanged at {cap.started_at} ({str(files['dom'])[:12]}): rendered DOM")
        cid = previous["id"]
    else:
        assert files["dom"] is not None and dom_ref is not None
        partial = cap.outcome != COMPLETE
        cid = runner._new_capture(sid, files["dom"], previous, {
            "captured_at": cap.started_at, "method": METHOD, "url": url, "final_url": cap.final_url,
            "status": cap.status, "media_type": "text/html", "charset": "utf-8",
            "declared_type": _header(doc.response_headers, "content-type") if doc else None,
            "ip": doc.ip if doc else None, "tls": dbm.dumps(doc.tls) if doc and doc.tls else None,
            "tool": cap.tool, "completeness": "unchecked" if partial else "checked",
            "completeness_note": f"browser capture partial: {cap.reason}" if partial else
            f"browser capture complete: {len(cap.recorded.exchanges)} exchange(s), none failed, refused, cut or unfinished",
            "warc_file": dom_ref.file, "warc_offset": dom_ref.offset, "warc_length": dom_ref.length,
        })
        runner._attempt(sid, METHOD, url, "captured", f"partial: {cap.reason}" if partial else None,
                        started_at=cap.started_at, status=cap.status, capture_id=cid, blake3=files["dom"], warc_ref=dom_ref)
        detail = f"browser capture {cap.outcome}: {cap.final_url} ({files['dom'][:12]}, {len(cap.recorded.exchanges)} exchange(s))"
        if partial:
            runner.report.notes.append(f"{sid}: browser capture {cid} partial: {cap.reason}")
        runner._result(sid, "new", detail)
    aid = archive.db.execute("SELECT max(id) FROM attempts WHERE source_id = ?", [sid]).fetchone()[0]
    shot = cap.provenance.get("screenshot") or {}
    bid = next_id(archive, "browser_captures")
    archive.record("browser_capture", "browser_captures", str(bid), {
        "id": bid, "source_id": sid, "attempt_id": aid, "capture_id": cid, "url": url, "final_url": cap.final_url,
        "status": cap.status, "outcome": cap.outcome, "reason": cap.reason, "started_at": cap.started_at,
        "browser": cap.provenance.get("browser"), "tool": cap.tool, "dom_blake3": files["dom"],
        "screenshot_blake3": files["screenshot"], "pdf_blake3": files["pdf"], "provenance_blake3": prov_b3,
        "screenshot_height": shot.get("height"), "page_height": shot.get("page_height"),
        "screenshot_cut": int(bool(shot.get("cut"))) if shot else None, "exchanges": len(cap.recorded.exchanges),
        "failures": dbm.dumps(cap.provenance.get("failures", [])), "warc_file": prov_ref.file,
        "warc_offset": prov_ref.offset,
    })


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def auto_sources(archive: Any, cases: list[Case]) -> list[tuple[Source, str]]:
    """URL sources captured over HTTP whose latest capture is `incomplete` (`run --browser auto`)."""
    due = []
    for case in cases:
        for source in case.sources:
            if not source.url or source.method != "http":
                continue
            sid = source_key(case.id, source.id)
            row = archive.db.execute("SELECT method, incomplete FROM captures WHERE source_id = ? "
                                     "ORDER BY version DESC LIMIT 1", [sid]).fetchone()
            if row is not None and row[0] == "http" and row[1] is not None:
                due.append((source, sid))
    return due


def browse_incomplete(runner: Any, cases: list[Case]) -> None:
    """--browser auto: capture in the browser each page whose latest (HTTP) capture is incomplete,
    extract what that made, and tell the run which incomplete pages the browser capture holds."""
    for source, sid in auto_sources(runner.archive, cases):
        previous = next(iter(runner.archive.db.query(
            "SELECT * FROM captures WHERE source_id = ? ORDER BY version DESC LIMIT 1", [sid])), None)
        try:
            with runner.archive.batch():
                capture_source(runner, source, sid, previous, False)
        except Exception as exc:  # noqa: BLE001 - as in run_case: one source never stops the batch
            runner._internal_error(sid, source, exc)
    runner._fresh = []
    runner._extract(runner._pending_jobs(runner._extracted(), set()))
    runner.report.incomplete, notes = rescued(runner.archive, runner.report.incomplete)
    runner.report.notes += notes


def rescued(archive: Any, incomplete: list[str]) -> tuple[list[str], list[str]]:
    """Split the run's "source: reason" incomplete lines into those still incomplete and notes for
    those whose latest capture is now a browser capture that holds the page's text."""
    still, notes = [], []
    for line in incomplete:
        sid, _, reason = line.partition(": ")
        row = archive.db.execute("SELECT id, method, incomplete FROM captures WHERE source_id = ? "
                                 "ORDER BY version DESC LIMIT 1", [sid]).fetchone()
        if row is not None and row[1] == METHOD and row[2] is None:
            notes.append(f"{sid}: the HTTP capture is incomplete ({reason}); browser capture {row[0]} holds the rendered page")
        else:
            still.append(line)
    return still, notes


def mark(archive: Any, case_id: str) -> list[str]:
    """The case's missing marked screenshots (claims/marked), made offline; notes for what could not be."""
    from ingest.capture.browser import launched
    from ingest.claims import marked

    try:
        return marked.mark_case(archive, case_id, launched)
    except BrowserUnavailable as exc:
        return [f"{case_id}: marked screenshots not made: {exc}"]
