"""A claim's standing follows its sources: pages edited and deleted between runs, a local document
changed in place, an address changed in the case file; what run, verify, the site and the bag say."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Site, khronika, query
from test_web import get, make_datasette, text_of

from ingest.checks.verify import DRIFT, MISMATCH, OK, UNVERIFIABLE, Check, Report
from ingest.claims.drift import day

HTML = "text/html; charset=utf-8"
HELD = """<html><head><meta charset="utf-8"><title>Court</title></head><body><article>
<p>On 16 May 2025 the Krasnogvardeysky District Court ordered the student held for two months in custody.</p>
<p>Lawyers for the defence said they would appeal against the decision to the city court next week.</p>
</article></body></html>"""
RELEASED = """<html><head><meta charset="utf-8"><title>Witnesses</title></head><body><article>
<p>Several other members of the group were questioned as witnesses and later released by investigators.</p>
<p>None of them was charged, their lawyers said after the questioning ended late in the evening.</p>
</article></body></html>"""
DECISION = "Суд постановил: «Гарри Азарян» заключён под стражу на два месяца.\nЗащита обжалует решение.\n"


def write_case(folder: Path, site: Site, released_path: str = "/released") -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    case = folder / "t.yml"
    case.write_text(f"""case:
  id: t
  title: T
sources:
  - id: held-report
    url: {site.url('/held')}
    outlet: Example News
  - id: released-report
    url: {site.url(released_path)}
    outlet: Other News
  - id: decision
    path: docs/decision.txt
    outlet: Court
claims:
  - id: held
    text: The court ordered the student held.
    date: 2025-05-16
    type: detention
    citations:
      - source: held-report
        quote: "ordered the student held for two months"
        stance: supports
  - id: released
    text: Others were released.
    date: 2025-05-20
    type: questioning
    citations:
      - source: released-report
        quote: "questioned as witnesses and later released"
        stance: supports
  - id: decision
    text: Azaryan was remanded.
    date: 2025-05-17
    type: detention
    citations:
      - source: decision
        quote: "«Гарри Азарян» заключён под стражу"
        stance: supports
""", encoding="utf-8")
    return case


def first_run(tmp_path: Path, site: Site) -> tuple[Path, Path]:
    site.set("/held", HELD.encode(), Content_Type=HTML)
    site.set("/released", RELEASED.encode(), Content_Type=HTML)
    case = write_case(tmp_path / "case", site)
    (tmp_path / "case" / "docs" / "decision.txt").write_text(DECISION, encoding="utf-8")
    archive = tmp_path / "archive"
    result = khronika("run", str(case), "--archive", str(archive))
    assert result.code == 0, result.err
    return case, archive


def drift_sources(case: Path, site: Site) -> None:
    """Edit one quoted sentence, delete one page, and remove the quote from the local document."""
    site.set("/held", HELD.replace("held for two months", "held for three months").encode(), Content_Type=HTML)
    site.set("/released", b"", status=404)
    doc = case.parent / "docs" / "decision.txt"
    doc.write_text(DECISION.replace("«Гарри Азарян» заключён под стражу", "«Гарри Азарян» отпущен"), encoding="utf-8")


def db_rows(archive: Path, sql: str, params: tuple = ()) -> list[tuple]:
    return query(archive / "archive.db", sql, params)


def since_of(archive: Path, citation: str) -> str:
    return db_rows(archive, "SELECT since FROM citation_drift WHERE citation_id = ?", (citation,))[0][0]


@pytest.fixture
def drifted(tmp_path: Path, site: Site) -> tuple[Path, Path, Site, Any]:
    case, archive = first_run(tmp_path, site)
    drift_sources(case, site)
    result = khronika("run", str(case), "--archive", str(archive), "--refresh")
    return case, archive, site, result


def test_run_refresh_records_drift_per_citation_and_names_the_claims(drifted: tuple[Path, Path, Site, Any]) -> None:
    case, archive, site, result = drifted
    assert result.code == 1  # a source failed (gone): the documented exit code, unchanged
    history = db_rows(archive, "SELECT citation_id, source_id, anchored_capture_id, finding, attempt_id, capture_id, "
                               "detail, diff FROM drift_checks ORDER BY id")
    (v2_held,) = db_rows(archive, "SELECT blake3 FROM captures WHERE source_id = 't/held-report' AND version = 2")[0]
    (v2_doc,) = db_rows(archive, "SELECT blake3 FROM captures WHERE source_id = 't/decision' AND version = 2")[0]
    assert history == [
        ("t/decision#1", "t/decision", 3, "quote_removed", 6, 5,
         f"quote no longer in version 2 ({v2_doc[:12]}) (not found, even approximately)", None),
        ("t/held#1", "t/held-report", 1, "quote_changed", 4, 4,
         f"quote changed in version 2 ({v2_held[:12]}): now “ordered the student held for three months” "
         "(not found; closest passage at 51 differs by 4 edits (score 0.90))",
         "--- archived\n+++ live\n@@ -1 +1 @@\n-ordered the student held for two months\n"
         "+ordered the student held for three months"),
        ("t/released#1", "t/released-report", 2, "page_gone", 5, None,
         f"gone: HTTP 404 Not Found at {site.url('/released')}", None),
    ]
    # Each finding is a logged event, and the time it names is the attempt's.
    assert db_rows(archive, "SELECT count(*) FROM log WHERE event = 'drift_check' AND table_name = 'drift_checks'") == [(3,)]
    assert db_rows(archive, "SELECT d.observed_at = a.started_at FROM drift_checks d JOIN attempts a ON a.id = d.attempt_id") \
        == [(1,), (1,), (1,)]
    claims = db_rows(archive, "SELECT id, status, drift, drift_since FROM claims ORDER BY id")
    assert claims == [
        ("t/decision", "sourced", "removed", since_of(archive, "t/decision#1")),
        ("t/held", "sourced", "changed", since_of(archive, "t/held#1")),
        ("t/released", "sourced", "gone", since_of(archive, "t/released#1")),
    ]
    lines = [line for line in result.err.splitlines() if line.startswith(("drift:", "not sourced:"))]
    assert lines == [
        f"drift: t/decision: none -> removed since {since_of(archive, 't/decision#1')}: citation 1 (t/decision): "
        f"the quoted sentence was removed from the live page (first seen {since_of(archive, 't/decision#1')}): "
        f"quote no longer in version 2 ({v2_doc[:12]}) (not found, even approximately)",
        f"drift: t/held: none -> changed since {since_of(archive, 't/held#1')}: citation 1 (t/held-report): "
        f"the quoted sentence was changed on the live page (first seen {since_of(archive, 't/held#1')}): "
        f"quote changed in version 2 ({v2_held[:12]}): now “ordered the student held for three months” "
        "(not found; closest passage at 51 differs by 4 edits (score 0.90))",
        f"drift: t/released: none -> gone since {since_of(archive, 't/released#1')}: citation 1 (t/released-report): "
        f"the live page was gone (first seen {since_of(archive, 't/released#1')}): "
        f"gone: HTTP 404 Not Found at {site.url('/released')}",
    ]
    assert result.err.splitlines()[-1] == ("2 new capture(s), 0 unchanged, 0 kept without fetching, 1 failed, 0 wanted. "
                                           "Claims: 3 sourced; live sources drifted: 1 changed, 1 gone, 1 removed.")
    # A run that finds nothing new records nothing and reports no change of drift.
    again = khronika("run", str(case), "--archive", str(archive))
    assert [line for line in again.err.splitlines() if line.startswith("drift:")] == []
    assert db_rows(archive, "SELECT count(*) FROM drift_checks") == [(3,)]


def test_run_names_every_claim_that_is_not_sourced(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "d.txt").write_text(DECISION, encoding="utf-8")
    case = tmp_path / "c.yml"
    case.write_text("""case:
  id: c
  title: C
sources:
  - id: d
    path: docs/d.txt
  - id: later
    wanted: true
claims:
  - id: found
    text: Found.
    citations:
      - source: d
        quote: "заключён под стражу"
        stance: supports
  - id: nowhere
    text: Nowhere.
    citations:
      - source: d
        quote: "a sentence that no document holds"
        stance: supports
  - id: waiting
    text: Waiting.
    citations:
      - source: later
        quote: "anything"
        stance: supports
""", encoding="utf-8")
    result = khronika("run", str(case), "--archive", str(tmp_path / "archive"))
    assert result.code == 0
    assert result.err.splitlines()[-3:] == [
        "not sourced: c/nowhere: unsourced: no supporting quote present; citation 1 (c/d): not found, even approximately",
        "not sourced: c/waiting: unsourced: no supporting quote present; citation 1 (c/later): "
        "c/later has no capture: it is wanted (address not yet known)",
        "1 new capture(s), 0 unchanged, 0 kept without fetching, 0 failed, 1 wanted. Claims: 1 sourced, 2 unsourced.",
    ]


def test_plain_verify_reports_the_drift_the_archive_holds(drifted: tuple[Path, Path, Site, Any]) -> None:
    _, archive, site, _ = drifted
    site.close()  # no network: plain verify reads only what the archive holds
    result = khronika("verify", "--archive", str(archive))
    assert result.code == 3
    drift_lines = [line for line in result.out.splitlines() if line.startswith("drift ")]
    assert [line.split(": since ")[0] for line in drift_lines] == [
        "drift        drift           citation t/decision#1 [quote_removed]",
        "drift        drift           citation t/held#1 [quote_changed]",
        "drift        drift           citation t/released#1 [page_gone]",
    ]
    assert drift_lines[2] == (f"drift        drift           citation t/released#1 [page_gone]: since "
                              f"{since_of(archive, 't/released#1')} (last seen {since_of(archive, 't/released#1')}, "
                              f"attempt 5): gone: HTTP 404 Not Found at {site.url('/released')}")
    # One line per result: the diff's line breaks are printed escaped.
    assert drift_lines[1].endswith("\\n--- archived\\n+++ live\\n@@ -1 +1 @@\\n-ordered the student held for two months"
                                   "\\n+ordered the student held for three months")
    assert [line for line in result.out.splitlines() if " checks: " in line] == [
        "23 checks: 20 ok, 0 mismatch, 0 missing, 0 unverifiable, 3 drift. 0 gap(s) (wanted sources)."]
    # Drift is about the live page; the archived copy's visibility stands, checked again as recorded.
    assert [line for line in result.out.splitlines() if "visibility of citation" in line] == []  # both ok
    assert "findings: 1 page_gone, 1 quote_changed, 1 quote_removed." in result.out


@pytest.mark.parametrize(("states", "code"), [
    ((MISMATCH, UNVERIFIABLE, DRIFT, OK), 1),
    ((UNVERIFIABLE, DRIFT, OK), 4),
    ((DRIFT, OK), 3),
    ((OK,), 0),
])
def test_exit_code_precedence_is_mismatch_then_unverifiable_then_drift(states: tuple[str, ...], code: int) -> None:
    assert Report([Check("x", str(i), s, "") for i, s in enumerate(states)], []).exit_code() == code


def quotes_moved(archive: Path) -> list[tuple[str, str, str, str]]:
    ds = make_datasette(archive)
    rows = json.loads(get(ds, "/archive/quotes_moved_or_changed.json?_shape=array").text)
    return [(r["check"], r["finding"], r["claim_id"], r["subject"], r["since"]) for r in rows]


def test_canned_query_reads_the_current_drift_not_the_last_verify_run(drifted: tuple[Path, Path, Site, Any],
                                                                       tmp_path: Path) -> None:
    _, archive, _, _ = drifted
    expected = [
        ("drift", "quote_removed", "t/decision", "t/decision#1", since_of(archive, "t/decision#1")),
        ("drift", "quote_changed", "t/held", "t/held#1", since_of(archive, "t/held#1")),
        ("drift", "page_gone", "t/released", "t/released#1", since_of(archive, "t/released#1")),
    ]
    assert quotes_moved(archive) == expected
    assert khronika("verify", "--archive", str(archive)).code == 3
    assert khronika("verify", "--archive", str(archive)).code == 3
    out = khronika("export", "t", "--archive", str(archive), "--out", str(tmp_path / "bag"))
    assert out.code == 0, out.err
    assert quotes_moved(archive) == expected

    # The bag's database and report carry the drift, and verify-bag names each citation.
    bag = tmp_path / "bag"
    assert query(bag / "data" / "archive.db", "SELECT citation_id, finding FROM citation_drift ORDER BY 1") == [
        ("t/decision#1", "quote_removed"), ("t/held#1", "quote_changed"), ("t/released#1", "page_gone")]
    assert query(bag / "data" / "archive.db", "SELECT id, drift FROM claims ORDER BY 1") == [
        ("t/decision", "removed"), ("t/held", "changed"), ("t/released", "gone")]
    report = (bag / "data" / "report.html").read_text(encoding="utf-8")
    since = since_of(archive, "t/released#1")
    assert (f'<p class="state-drift">Live source since the archived copy: page_gone since {since} (last checked {since}): '
            f"gone: HTTP 404 Not Found at {drifted[2].url('/released')}</p>") in report
    assert (f'<p class="state-drift">Live sources since the archived copies: changed since {since_of(archive, "t/held#1")} '
            "(citation 1 (t/held-report): the quoted sentence was changed on the live page") in report
    fp = next(line.split()[-1] for line in out.out.splitlines() if line.startswith("key fingerprint "))
    checked = khronika("verify-bag", str(bag), "--key-fingerprint", fp)
    assert checked.code == 3, checked.out
    assert [line.split(": since ")[0] for line in checked.out.splitlines() if line.startswith("drift ")] == [
        "drift        drift           citation t/decision#1 [quote_removed]",
        "drift        drift           citation t/held#1 [quote_changed]",
        "drift        drift           citation t/released#1 [page_gone]",
    ]
    assert "findings: 1 page_gone, 1 quote_changed, 1 quote_removed." in checked.out


def test_a_restored_page_turns_the_state_back_with_the_history_kept(drifted: tuple[Path, Path, Site, Any]) -> None:
    case, archive, site, _ = drifted
    site.set("/held", HELD.encode(), Content_Type=HTML)
    result = khronika("run", str(case), "--archive", str(archive), "--refresh")
    restored = db_rows(archive, "SELECT observed_at FROM drift_checks WHERE citation_id = 't/held#1' ORDER BY id DESC LIMIT 1")[0][0]
    assert "drift: t/held: changed -> none" in result.err.splitlines()
    assert db_rows(archive, "SELECT finding, capture_id FROM drift_checks WHERE citation_id = 't/held#1' ORDER BY id") == [
        ("quote_changed", 4), ("quote_present", 6)]
    (v3,) = db_rows(archive, "SELECT blake3 FROM captures WHERE id = 6")[0]
    assert db_rows(archive, "SELECT finding, since, detail FROM citation_drift WHERE citation_id = 't/held#1'") == [
        ("quote_present", restored, f"quote present (exact) at [51, 90) of version 3 ({v3[:12]})")]
    assert db_rows(archive, "SELECT drift, drift_since FROM claims WHERE id = 't/held'") == [("none", None)]
    # The gone page, fetched again and still gone, keeps the date its drift was first seen.
    first_gone = db_rows(archive, "SELECT observed_at FROM drift_checks WHERE citation_id = 't/released#1' ORDER BY id")[0][0]
    assert db_rows(archive, "SELECT finding, since FROM citation_drift WHERE citation_id = 't/released#1'") == [
        ("page_gone", first_gone)]
    assert db_rows(archive, "SELECT count(*) FROM drift_checks WHERE citation_id = 't/released#1'") == [(2,)]
    # Every drift row can be rebuilt from the log: delete the database and run offline.
    before = db_rows(archive, "SELECT * FROM citation_drift ORDER BY 1")
    for suffix in ("", "-wal", "-shm"):
        (archive / f"archive.db{suffix}").unlink(missing_ok=True)
    assert khronika("run", str(case), "--archive", str(archive), "--offline").code == 0
    assert db_rows(archive, "SELECT * FROM citation_drift ORDER BY 1") == before
    assert db_rows(archive, "SELECT id, drift FROM claims ORDER BY 1") == [
        ("t/decision", "removed"), ("t/held", "none"), ("t/released", "gone")]


def test_a_changed_url_is_captured_as_a_new_version_with_drift_against_it(tmp_path: Path, site: Site) -> None:
    case, archive = first_run(tmp_path, site)
    site.set("/moved", RELEASED.replace("later released", "later released on bail").encode(), Content_Type=HTML)
    write_case(case.parent, site, released_path="/moved")
    result = khronika("run", str(case), "--archive", str(archive))
    assert result.code == 0, result.err
    (b3,) = db_rows(archive, "SELECT blake3 FROM captures WHERE source_id = 't/released-report' AND version = 2")[0]
    size = len(RELEASED.replace("later released", "later released on bail").encode())
    assert f"new       t/released-report: address changed: new version {site.url('/moved')} ({b3[:12]}, {size} bytes)" \
        in result.err.splitlines()
    assert db_rows(archive, "SELECT version, url FROM captures WHERE source_id = 't/released-report' ORDER BY version") == [
        (1, site.url("/released")), (2, site.url("/moved"))]
    logged = [json.loads(e) for (e,) in db_rows(archive, "SELECT entry FROM log WHERE event = 'address_changed'")]
    assert [(e["source_id"], e["old_url"], e["new_url"]) for e in logged] == [
        ("t/released-report", site.url("/released"), site.url("/moved"))]
    # The citation stays bound to the capture it was anchored in, and gains a drift result against the new one.
    assert db_rows(archive, "SELECT capture_id FROM citations WHERE id = 't/released#1'") == [(2,)]
    assert db_rows(archive, "SELECT finding, capture_id FROM citation_drift WHERE citation_id = 't/released#1'") == [
        ("quote_present", 4)]
    # A second run fetches nothing again: the latest capture is of the address the case file names.
    again = khronika("run", str(case), "--archive", str(archive))
    assert "kept      t/released-report: captured before" in again.err
    html = text_of(make_datasette(archive), "/-/source/t/released-report")
    assert (f'<ul class="links addresses"><li>{site.url("/released")}: version 1</li>'
            f'<li>{site.url("/moved")}: version 2</li></ul>') in html


def test_pages_show_drift_wherever_status_is_shown(drifted: tuple[Path, Path, Site, Any]) -> None:
    _, archive, site, _ = drifted
    ds = make_datasette(archive)
    (captured,) = db_rows(archive, "SELECT captured_at FROM captures WHERE id = 1")[0]
    claim = text_of(ds, "/-/claim/t/held")
    assert (f'<p class="drift-banner" role="alert">Sourced in the archived copy of {day(captured)}; the quoted sentence '
            f"was changed on the live page by {day(since_of(archive, 't/held#1'))}.</p>") in claim
    assert "<pre class=\"diff\">--- archived\n+++ live\n@@ -1 +1 @@\n-ordered the student held for two months\n" \
           "+ordered the student held for three months</pre>" in claim
    gone = text_of(ds, "/-/claim/t/released")
    assert f"the live page was gone by {day(since_of(archive, 't/released#1'))}.</p>" in gone
    source = text_of(ds, "/-/source/t/released-report")
    (attempt,) = db_rows(archive, "SELECT started_at FROM attempts WHERE id = 5")[0]
    assert (f'<p class="drift-banner" role="alert">The live page was gone when last fetched on {day(attempt)} '
            f"(HTTP 404 Not Found at {site.url('/released')}). The archived copies below are kept.</p>") in source
    changed = text_of(ds, "/-/source/t/held-report")
    assert (f'<p class="drift-banner" role="alert">Citation t/held#1: the quoted sentence was changed on the live page '
            f"by {day(since_of(archive, 't/held#1'))}.</p>") in changed
    timeline = text_of(ds, "/-/timeline/t")
    assert timeline.count('class="mark drifted"') == 3
    assert f'<span class="drift">changed since {day(since_of(archive, "t/held#1"))}</span>' in timeline
    search = text_of(ds, "/-/search?q=student")
    assert f'<span class="drift">live source changed since {day(since_of(archive, "t/held#1"))}</span>' in search


def test_claim_page_lists_the_claims_revisions_from_the_log(tmp_path: Path, site: Site) -> None:
    case, archive = first_run(tmp_path, site)
    text = case.read_text(encoding="utf-8")
    text = text.replace("The court ordered the student held.", "The court ordered the student held for two months.")
    text = text.replace("    date: 2025-05-16\n", "    date: 2025-05-15\n    people: [Harry Azaryan]\n")
    text = text.replace('        quote: "ordered the student held for two months"',
                        '        quote: "the student held for two months in custody"')
    case.write_text(text, encoding="utf-8")
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    entries = db_rows(archive, "SELECT seq, time, event FROM log WHERE (table_name = 'claims' AND key = 't/held') "
                               "OR (table_name = 'citations' AND key = 't/held#1') ORDER BY seq")
    assert [e[2] for e in entries] == ["claim_recorded", "citation_recorded", "claim_revised", "citation_recorded"]
    html = text_of(make_datasette(archive), "/-/claim/t/held")
    items = [
        ("claim_recorded", "claim recorded<ul><li>text: The court ordered the student held.</li></ul>"),
        ("citation_recorded", "citation 1 added<ul><li>supports from t/held-report: “ordered the student held for "
                              "two months” (match exact)</li></ul>"),
        ("claim_revised", "claim revised<ul><li>text: The court ordered the student held. → The court ordered the "
                          "student held for two months.</li><li>date: 2025-05-16 → 2025-05-15</li>"
                          "<li>people: (none) → Harry Azaryan</li></ul>"),
        ("citation_recorded", "citation 1 changed<ul><li>quote: ordered the student held for two months → the student "
                              "held for two months in custody</li></ul>"),
    ]
    for (seq, time, event), (want_event, body) in zip(entries, items):
        assert event == want_event
        assert (f'<li id="log-{seq}"><span class="meta">{time} · log entry {seq} ({event})</span>: {body}</li>') in html
    # Withdrawing the claim is the last entry of its history.
    case.write_text(text[: text.index("  - id: held\n")] + text[text.index("  - id: released\n"):], encoding="utf-8")
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    html = text_of(make_datasette(archive), "/-/claim/t/held")
    (seq,) = db_rows(archive, "SELECT max(seq) FROM log WHERE event = 'claim_withdrawn' AND key = 't/held'")[0]
    assert f"log entry {seq} (claim_withdrawn)</span>: claim withdrawn from its case file</li>" in html
