"""The visibility stage: whether a reader can see each anchored HTML quote, recorded per citation.

Runs after capture and anchoring. The static pass judges every quote; the pages it cannot
decide are rendered in one Chromium for the whole run. Without a browser they are recorded as
`visibility unchecked`, with the reason, and never count as found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ingest.claims.verdict import STATES, UNCHECKED, UNDECIDED, Verdict, is_html
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.log import utcnow

NOT_LOCATED = "the quote was not located in the page's text nodes"

# Anchored citations of claims in force with the capture and extraction they are anchored in. A
# quote found only in the page's metadata (og:description, JSON-LD) is not in the text the page
# shows at all: it is not judged here, and its citation carries that flag instead.
CITATIONS_SQL = """
SELECT ci.id, ci.claim_id, ci.blake3, ci.exact, ci.quote, cap.url, cap.final_url, cap.media_type,
       cap.captured_at, e.charset, v.state AS v_state, v.blake3 AS v_blake3, v.exact AS v_exact,
       v.method AS v_method, v.reason AS v_reason
FROM citations ci JOIN claims cl ON cl.id = ci.claim_id AND cl.withdrawn = 0
JOIN captures cap ON cap.id = ci.capture_id
LEFT JOIN extractions e ON e.id = ci.extraction_id
LEFT JOIN visibility v ON v.citation_id = ci.id
WHERE ci.match IN ('exact', 'normalized') AND ci.found_in_metadata IS NULL ORDER BY ci.id"""


@dataclass
class Judged:
    verdict: Verdict
    method: str


@dataclass
class StageReport:
    counts: dict[str, int] = field(default_factory=dict)  # state -> quotes
    by_method: dict[str, int] = field(default_factory=dict)  # "static" | "chromium" -> quotes
    browser: str | None = None  # version line, or why there was none
    pages_rendered: int = 0

    def summary(self) -> str:
        states = ", ".join(f"{self.counts[s]} {s}" for s in STATES if s in self.counts)
        how = ", ".join(f"{n} by {m}" for m, n in sorted(self.by_method.items()))
        return f"visibility of {sum(self.counts.values())} quote(s): {states} ({how})"


def html_citations(db: Any) -> list[dict[str, Any]]:
    return [r for r in db.query(CITATIONS_SQL) if is_html(r["media_type"])]


def due(row: dict[str, Any]) -> bool:
    """Never checked, checked on another capture or passage, or left unchecked last time."""
    return row["v_state"] is None or row["v_blake3"] != row["blake3"] or row["v_exact"] != row["exact"] \
        or row["v_state"] == UNCHECKED


def page_url(row: dict[str, Any]) -> str:
    url = row["final_url"] or row["url"]
    # A local document has no address: it is loaded from a name that can never reach a network.
    return url if url and url.startswith(("http://", "https://")) else f"http://khronika.invalid/{row['blake3']}"


def content_type(row: dict[str, Any]) -> str:
    media = (row["media_type"] or "text/html").split(";")[0].strip()
    return f"{media}; charset={row['charset']}" if row["charset"] else media


def judge(archive: Archive, rows: list[dict[str, Any]], *, browser: bool = True,
          report: StageReport | None = None) -> dict[str, Judged]:
    """Citation id -> verdict for each row: static first, Chromium for what it leaves undecided."""
    # Imported here: every run calls the stage, and most runs find nothing due (lxml's CSS, tinycss2).
    from ingest.claims import static_view

    report = report if report is not None else StageReport()
    out: dict[str, Judged] = {}
    pages: dict[str, Any] = {}
    undecided: dict[str, list[tuple[dict[str, Any], Verdict]]] = {}
    for row in rows:
        page = pages.get(row["blake3"])
        if page is None:
            try:
                data = archive.store.path(row["blake3"]).read_bytes()
            except OSError as exc:
                out[row["id"]] = Judged(Verdict(UNCHECKED, f"archived file unreadable: {exc.strerror}"),
                                        static_view.method())
                continue
            page = pages[row["blake3"]] = static_view.StaticPage(data, row["charset"])
        verdict = page.judge(row["exact"] or row["quote"])
        if verdict.state == UNDECIDED:
            undecided.setdefault(row["blake3"], []).append((row, verdict))
        else:
            out[row["id"]] = Judged(verdict, static_view.method())
    if undecided:
        out.update(render_all(archive, undecided, browser, report))
    return out


def render_all(archive: Archive, undecided: dict[str, list[tuple[dict[str, Any], Verdict]]],
                browser: bool, report: StageReport) -> dict[str, Judged]:
    from ingest.capture.chromium import BrowserUnavailable
    from ingest.claims import static_view
    from ingest.claims.render_worker import RenderWorker

    out: dict[str, Judged] = {}

    def unchecked(why: str) -> None:
        for items in undecided.values():
            for row, static in items:
                out.setdefault(row["id"], Judged(
                    Verdict(UNCHECKED, f"{why}; the static pass could not decide ({static.reason})"),
                    static_view.method()))

    if not browser:
        unchecked("Chromium not used")
        return out
    worker = RenderWorker(archive.root)
    try:
        for blake3, items in undecided.items():
            row0, path = items[0][0], archive.store.path(blake3)
            if not path.is_file():
                for row, _ in items:
                    out[row["id"]] = Judged(Verdict(UNCHECKED, "archived file unreadable: missing"), static_view.method())
                continue
            verdicts, refused = worker.render(page_url(row0), path, content_type(row0),
                                              [r["exact"] or r["quote"] for r, _ in items])
            report.browser = worker.version or report.browser
            report.pages_rendered += 1
            for (row, static), v in zip(items, verdicts):
                if v.state == "hidden" and v.reason == "not in the rendered page's text" and static.reason == NOT_LOCATED:
                    v = Verdict(UNCHECKED, "the quote was not located in the page's text")
                detail = dict(v.detail)
                if refused:
                    detail["refused_requests"] = refused  # not in the archive: rendered without them
                out[row["id"]] = Judged(Verdict(v.state, v.reason, detail), report.browser or "chromium")
    except BrowserUnavailable as exc:
        report.browser = str(exc)
        unchecked(str(exc))
    finally:
        worker.close()
    return out


def visibility_row(row: dict[str, Any], judged: Judged) -> dict[str, Any]:
    return {
        "citation_id": row["id"], "blake3": row["blake3"], "exact": row["exact"],
        "state": judged.verdict.state, "reason": judged.verdict.reason or None, "method": judged.method,
        "detail": json.dumps(judged.verdict.detail, sort_keys=True) if judged.verdict.detail else None,
        "checked_at": utcnow(),
    }


def check_visibility(archive: Archive, mode: str = "full") -> tuple[StageReport, set[str]]:
    """Judge and record every due citation; return the report and the claims whose status may change.

    mode: full (static, then Chromium), static (no browser: the undecided are unchecked), off."""
    report = StageReport()
    rows = [r for r in html_citations(archive.db) if due(r)] if mode != "off" else []
    if not rows:
        return report, set()
    judged = judge(archive, rows, browser=mode == "full", report=report)
    claims: set[str] = set()
    with archive.batch():
        for row in rows:
            j = judged[row["id"]]
            new = visibility_row(row, j)
            report.counts[j.verdict.state] = report.counts.get(j.verdict.state, 0) + 1
            kind = "chromium" if j.method.startswith("chromium") else "static"
            report.by_method[kind] = report.by_method.get(kind, 0) + 1
            if dbm.differs(dbm.get_row(archive.db, "visibility", row["id"]), new, ("checked_at",)):
                archive.record("visibility_checked", "visibility", row["id"], new)
                claims.add(row["claim_id"])
    return report, claims


def visibility_stage(archive: Archive, mode: str = "full") -> list[str]:
    """The stage as a run calls it: judge and record, bring the changed claims' status up to date; the run's notes."""
    from ingest.claims.status import update_status

    report, changed = check_visibility(archive, mode)
    for key in sorted(changed):
        update_status(archive, key)
    return [report.summary()] if report.counts else []
