"""verify's visibility check: each recorded visibility judged again by the method that recorded it."""

from __future__ import annotations

from typing import Any

from ingest.capture import chromium
from ingest.checks.results import MISMATCH, MISSING, OK, UNVERIFIABLE
from ingest.claims.verdict import UNCHECKED, UNDECIDED, Verdict
from ingest.claims.visibility import StageReport, html_citations, judge, render_all
from ingest.store.archive import Archive

Found = tuple[str, str, str]  # (subject, state, detail)


def _said(state: str | None, reason: str | None) -> str:
    return f"{state} ({reason})" if reason else str(state)


def check_visibility(archive: Archive, intact: set[str]) -> list[Found]:
    """One check per anchored HTML citation of a claim in force."""
    checks: list[Found] = []
    again_static: list[dict[str, Any]] = []
    again_browser: list[dict[str, Any]] = []
    for row in html_citations(archive.db):
        subject = f"visibility of citation {row['id']}"
        if row["v_state"] is None or row["v_blake3"] != row["blake3"] or row["v_exact"] != row["exact"]:
            checks.append((subject, MISSING, "no visibility recorded for the anchored passage "
                                "(`python -m ingest run` records it)"))
        elif row["v_state"] == UNCHECKED:
            checks.append((subject, UNVERIFIABLE, f"recorded as {UNCHECKED}: {row['v_reason']}"))
        elif row["blake3"] not in intact:
            checks.append((subject, UNVERIFIABLE, "the archived capture is missing or altered"))
        elif row["v_method"].startswith("chromium"):
            again_browser.append(row)
        else:
            again_static.append(row)
    if again_browser:
        try:
            chromium.executable()
        except chromium.BrowserUnavailable as exc:
            for row in again_browser:
                checks.append((f"visibility of citation {row['id']}", UNVERIFIABLE,
                                    f"recorded by {row['v_method']}; {exc}"))
            again_browser = []
    report = StageReport()
    judged = judge(archive, again_static, browser=False, report=report)
    # Rows Chromium decided: the static pass must not answer for it, so they go straight to the browser.
    judged.update(_rendered(archive, again_browser, report))
    for row in again_static + again_browser:
        j = judged[row["id"]]
        subject = f"visibility of citation {row['id']}"
        then, now = _said(row["v_state"], row["v_reason"]), _said(j.verdict.state, j.verdict.reason)
        if j.verdict.state == UNCHECKED:
            checks.append((subject, UNVERIFIABLE, f"recorded {then} by {row['v_method']}; "
                                f"now {now}"))
        elif (j.verdict.state, j.verdict.reason or None) == (row["v_state"], row["v_reason"]):
            checks.append((subject, OK, f"{now}, as recorded, by {j.method}"))
        else:
            checks.append((subject, MISMATCH,
                                f"visibility changed: recorded {then} by {row['v_method']}, now {now} by {j.method}"))
    return checks


def _rendered(archive: Archive, rows: list[dict[str, Any]], report: StageReport) -> dict[str, Any]:
    undecided: dict[str, list[tuple[dict[str, Any], Verdict]]] = {}
    for row in rows:
        undecided.setdefault(row["blake3"], []).append((row, Verdict(UNDECIDED, "re-checked as recorded")))
    return render_all(archive, undecided, True, report) if undecided else {}

