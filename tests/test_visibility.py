"""A quote counts only where a reader can see it: each way of hiding text, judged statically, in
real Chromium (pages served on 127.0.0.1, rendered from the archive with the network off), and
with no browser at all."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, khronika, query

from ingest.claims.static_view import StaticPage
from ingest.claims.verdict import Verdict

Q = "The court ordered the student held for two months in custody."


def page(body: str, head: str = "") -> bytes:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Report</title>{head}</head><body><article>'
            f"<p>The hearing took place on Friday morning in the district court building.</p>{body}"
            "<p>Lawyers for the defence said they would appeal against the decision next week.</p>"
            "</article></body></html>").encode("utf-8")


# name: (page, static verdict, verdict after Chromium; None: the extractor drops the text, so the
# quote is never anchored and its visibility never asked). The pinned extractor keeps inline
# display:none and visibility:hidden text, so those quotes are anchored, and then found hidden.
PAGES: dict[str, tuple[bytes, tuple[str, str], tuple[str, str] | None]] = {
    "normal": (page(f"<p>{Q}</p>"), ("visible", ""), ("visible", "")),
    "aria-hidden": (page(f'<p aria-hidden="true">{Q}</p>'), ("visible", ""), ("visible", "")),
    "details": (page(f"<details><summary>More</summary><p>{Q}</p></details>"),
                ("visible on interaction", "inside a closed <details>"),
                ("visible on interaction", "inside a closed <details>")),
    "hidden-attribute": (page(f"<p hidden>{Q}</p>"), ("hidden", "hidden attribute"), ("hidden", "hidden attribute")),
    "template": (page(f"<template><p>{Q}</p></template>"), ("hidden", "template"), ("hidden", "template")),
    "stylesheet-class": (page(f'<p class="gone">{Q}</p>', "<style>.gone{display:none}</style>"),
                         ("hidden", "display:none from stylesheet"), ("hidden", "display:none from stylesheet")),
    "font-size-0": (page(f'<p style="font-size:0">{Q}</p>'), ("hidden", "font size 0"), ("hidden", "font size 0")),
    "off-screen": (page(f'<p style="position:absolute;left:-9999px">{Q}</p>'),
                   ("undecided", "CSS property position in a style attribute"), ("hidden", "off-screen")),
    "white-on-white": (page(f'<p style="color:#fff;background:#fff">{Q}</p>'),
                       ("undecided", "CSS property color in a style attribute"),
                       ("hidden", "text colour close to background")),
    "display-none": (page(f'<p style="display:none">{Q}</p>'), ("hidden", "display:none"), ("hidden", "display:none")),
    "visibility-hidden": (page(f'<p style="visibility:hidden">{Q}</p>'), ("hidden", "visibility:hidden"),
                          ("hidden", "visibility:hidden")),
    "comment": (page(f"<!-- <p>{Q}</p> -->"), ("undecided", "the quote was not located in the page's text nodes"), None),
}
# Cases beyond the table, judged by the static pass and by Chromium.
MORE: dict[str, tuple[bytes, tuple[str, str], tuple[str, str]]] = {
    "tiny-span": (page('<p>The court ordered the student <span style="font-size:2px">held</span> for two months in '
                       "custody.</p>"), ("hidden", "font size below 4 px"), ("hidden", "font size below 4 px")),
    "hidden-overridden": (page(f"<p hidden>{Q}</p>", "<style>[hidden]{display:block}</style>"),
                          ("visible", ""), ("visible", "")),
    "font-size-reset": (page(f'<div style="font-size:0"><p style="font-size:16px">{Q}</p></div>'),
                        ("visible", ""), ("visible", "")),
    "screen-reader-only": (page(f'<p class="sr">{Q}</p>', "<style>.sr{position:absolute;width:1px;height:1px;"
                                "overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap}</style>"),
                           ("undecided", "CSS property position in a <style> sheet"), ("hidden", "clipped")),
    "opacity-0": (page(f'<div style="opacity:0"><p>{Q}</p></div>'),
                  ("undecided", "CSS property opacity in a style attribute"), ("hidden", "transparent")),
    "hidden-by-script": (page(f'<p id="q">{Q}</p><script>document.getElementById("q").style.display="none"</script>'),
                         ("undecided", "the page runs scripts"), ("hidden", "display:none")),
    "repeated-visible": (page(f'<p hidden>{Q}</p><p>{Q}</p>'), ("visible", ""), ("visible", "")),
    "scaled-to-nothing": (page(f'<p style="transform:scale(0)">{Q}</p>'),
                          ("undecided", "CSS property transform in a style attribute"), ("hidden", "zero size")),
}


def verdict(v: Verdict) -> tuple[str, str]:
    return (v.state, v.reason)


@pytest.mark.parametrize("name", list(PAGES) + list(MORE))
def test_static_pass(name: str) -> None:
    body, static, _ = PAGES[name] if name in PAGES else MORE[name]
    assert verdict(StaticPage(body, None).judge(Q)) == static


def test_static_pass_on_a_page_that_is_not_html() -> None:
    assert verdict(StaticPage(b"\x00\x01 binary", None).judge(Q)) == (
        "undecided", "the quote was not located in the page's text nodes")


def test_a_page_that_runs_scripts_is_left_to_chromium_without_its_cascade_built() -> None:
    """Whatever its own CSS says, such a page is undecided: its cascade, most of the static pass's
    time on real pages, is not built at all."""
    css = "".join(f".c{i} p {{ color: #{i:06x}; }}\n" for i in range(2000))
    body = (f"<html><head><style>{css}</style><script>document.title = 'x'</script></head>"
            f"<body><p>{Q}</p></body></html>").encode()
    page = StaticPage(body, None)
    assert page.cascade is None
    assert verdict(page.judge(Q)) == ("undecided", "the page runs scripts")
    assert verdict(page.judge("not in the page at all")) == ("undecided", "the quote was not located in the page's text nodes")
    plain = StaticPage(body.replace(b"<script>document.title = 'x'</script>", b""), None)
    assert plain.cascade is not None and verdict(plain.judge(Q)) == ("visible", "")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from ingest.capture.chromium import launched

    with launched() as (b, version):
        assert version.startswith("chromium ") and "(playwright " in version
        yield b


@pytest.mark.slow
def test_chromium_pass_on_every_page_in_one_browser(browser: object) -> None:
    from ingest.claims.rendered import render

    asked: list[str] = []

    def lookup(url: str) -> None:
        asked.append(url)
        return None

    got, want = {}, {}
    for name, (body, _, rendered) in {**PAGES, **MORE}.items():
        if rendered is None or name == "comment":
            continue
        verdicts, refused = render(browser, f"http://127.0.0.1:9/{name}", body, "text/html; charset=utf-8", [Q], lookup)
        got[name], want[name] = (verdict(verdicts[0]), refused), (rendered, {})
    assert got == want
    assert asked == []  # the pages ask for nothing


@pytest.mark.slow
def test_chromium_serves_subresources_only_from_the_archive(browser: object, site: Site) -> None:
    from ingest.claims.rendered import render

    site.set("/hide.css", b".q{display:none}", Content_Type="text/css")
    body = page(f'<p class="q">{Q}</p><img src="{site.url("/x.png")}">',
                f'<link rel="stylesheet" href="{site.url("/hide.css")}">')
    held = {site.url("/hide.css"): (b".q{display:none}", "text/css")}
    verdicts, refused = render(browser, site.url("/page"), body, "text/html", [Q], held.get)
    assert (verdict(verdicts[0]), refused) == (("hidden", "display:none from stylesheet"), {"image": 1})
    verdicts, refused = render(browser, site.url("/page"), body, "text/html", [Q], lambda url: None)
    assert (verdict(verdicts[0]), refused) == (("visible", ""), {"stylesheet": 1, "image": 1})
    assert site.hits == {}  # nothing reached the network


def write_case(folder: Path, site: Site, names: list[str]) -> Path:
    sources, claims = [], []
    for name in names:
        body = (PAGES.get(name) or MORE[name])[0]
        site.set(f"/{name}", body, Content_Type="text/html; charset=utf-8")
        sources.append(f"  - id: {name}\n    url: {site.url('/' + name)}\n")
        claims.append(f"  - id: {name}\n    text: The student was held.\n    citations:\n"
                      f"      - source: {name}\n        quote: \"{Q}\"\n        stance: supports\n")
    case = folder / "v.yml"
    folder.mkdir(parents=True, exist_ok=True)
    case.write_text("case:\n  id: v\n  title: Visibility\nsources:\n" + "".join(sources) + "claims:\n" + "".join(claims),
                    encoding="utf-8")
    return case


STATUS_FOUND = "all 1 supporting quote(s) present in archived captures"


def expected_status(name: str, state: str, reason: str) -> tuple[str, str]:
    if state == "visible":
        return "sourced", STATUS_FOUND
    if state == "visible on interaction":
        return "sourced", f"{STATUS_FOUND}; citation 1 (v/{name}) is visible only on interaction: {reason}"
    say = f"present only in text hidden from readers: {reason}" if state == "hidden" else f"visibility unchecked: {reason}"
    return "unsourced", f"no supporting quote present; citation 1 (v/{name}): {say}"


TABLE = list(PAGES) + ["screen-reader-only", "repeated-visible"]


@pytest.mark.slow
def test_run_records_visibility_and_status_for_every_row_of_the_table(tmp_path: Path, site: Site) -> None:
    case = write_case(tmp_path / "case", site, TABLE)
    archive = tmp_path / "archive"
    result = khronika("run", str(case), "--archive", str(archive))
    assert result.code == 0, result.err
    assert ("note: visibility of 13 quote(s): 3 visible, 1 visible on interaction, 9 hidden "
            "(3 by chromium, 10 by static)") in result.err
    assert site.hits == {f"/{n}": 1 for n in TABLE}  # rendering fetched nothing again
    db = archive / "archive.db"
    rows = {r[0].split("/")[1].split("#")[0]: r[1:] for r in query(
        db, "SELECT citation_id, state, coalesce(reason, ''), substr(method, 1, 8) FROM visibility")}
    expected = {}
    for name in TABLE:
        rendered = (PAGES.get(name) or MORE[name])[2]
        static = (PAGES.get(name) or MORE[name])[1]
        if rendered is not None:
            expected[name] = (*rendered, "chromium" if static[0] == "undecided" else "static (")
    assert rows == expected
    statuses = {r[0].split("/")[1]: (r[1], r[2]) for r in query(db, "SELECT id, status, status_reason FROM claims")}
    want = {}
    for name in TABLE:
        if name in expected:
            want[name] = expected_status(name, *expected[name][:2])
    want["comment"] = ("unsourced", "no supporting quote present; citation 1 (v/comment): not found, even approximately")
    assert statuses == want
    detail = query(db, "SELECT detail FROM visibility WHERE citation_id = 'v/white-on-white#1'")[0][0]
    assert json.loads(detail) == {"contrast": 1}
    # A second run judges nothing again and records nothing.
    before = query(db, "SELECT count(*) FROM log")[0][0]
    again = khronika("run", str(case), "--archive", str(archive))
    assert again.code == 0 and "note: visibility" not in again.err
    assert query(db, "SELECT count(*) FROM log")[0][0] == before

    # verify judges every recorded visibility again with the method that recorded it.
    out = khronika("verify", "--archive", str(archive), "--json")
    checks = {c["subject"]: (c["state"], c["detail"]) for c in json.loads(out.out)["checks"] if c["check"] == "visibility"}
    method = query(db, "SELECT method FROM visibility WHERE citation_id = 'v/off-screen#1'")[0][0]
    assert checks["visibility of citation v/off-screen#1"] == ("ok", f"hidden (off-screen), as recorded, by {method}")
    assert len(checks) == 13 and {s for s, _ in checks.values()} == {"ok"}


NO_BROWSER_PAGES = ["normal", "details", "font-size-0", "off-screen", "white-on-white"]


@pytest.fixture(scope="module")
def without_chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """The same pages, run and verified with $KHRONIKA_CHROMIUM pointing at nothing."""
    tmp = tmp_path_factory.mktemp("nobrowser")
    site = Site()
    case = write_case(tmp / "case", site, NO_BROWSER_PAGES)
    archive = tmp / "archive"
    missing = tmp / "no-such-chromium"
    os.environ["KHRONIKA_CHROMIUM"] = str(missing)
    try:
        result = khronika("run", str(case), "--archive", str(archive))
        verified = khronika("verify", "--archive", str(archive), "--json")
    finally:
        del os.environ["KHRONIKA_CHROMIUM"]
    yield {"run": result, "verify": verified, "archive": archive, "site": site, "tmp": tmp,
           "no_browser": f"Chromium not available: no executable at {missing} ($KHRONIKA_CHROMIUM)"}
    site.close()


def test_without_chromium_the_undecided_are_unchecked_and_do_not_count(without_chromium: dict) -> None:
    result, archive, no_browser = without_chromium["run"], without_chromium["archive"], without_chromium["no_browser"]
    assert result.code == 0, result.err
    assert ("note: visibility of 5 quote(s): 1 visible, 1 visible on interaction, 1 hidden, 2 visibility unchecked "
            "(5 by static)") in result.err
    db = archive / "archive.db"
    rows = {r[0]: r[1:] for r in query(db, "SELECT citation_id, state, coalesce(reason, '') FROM visibility")}
    assert rows == {
        "v/normal#1": ("visible", ""),
        "v/details#1": ("visible on interaction", "inside a closed <details>"),
        "v/font-size-0#1": ("hidden", "font size 0"),
        "v/off-screen#1": ("visibility unchecked", f"{no_browser}; the static pass could not decide "
                           "(CSS property position in a style attribute)"),
        "v/white-on-white#1": ("visibility unchecked", f"{no_browser}; the static pass could not decide "
                               "(CSS property color in a style attribute)"),
    }
    statuses = {r[0]: (r[1], r[2]) for r in query(db, "SELECT slug, status, status_reason FROM claims")}
    assert statuses == {n: expected_status(n, *rows[f"v/{n}#1"]) for n in NO_BROWSER_PAGES}
    out = without_chromium["verify"]
    assert out.code == 4
    checks = {c["subject"]: (c["state"], c["detail"]) for c in json.loads(out.out)["checks"] if c["check"] == "visibility"}
    method = query(db, "SELECT method FROM visibility WHERE citation_id = 'v/normal#1'")[0][0]
    assert method.startswith("static (lxml ")
    assert checks == {
        "visibility of citation v/normal#1": ("ok", f"visible, as recorded, by {method}"),
        "visibility of citation v/details#1": ("ok", f"visible on interaction (inside a closed <details>), as recorded, by {method}"),
        "visibility of citation v/font-size-0#1": ("ok", f"hidden (font size 0), as recorded, by {method}"),
        "visibility of citation v/off-screen#1": ("unverifiable", f"recorded as visibility unchecked: {rows['v/off-screen#1'][1]}"),
        "visibility of citation v/white-on-white#1": ("unverifiable", f"recorded as visibility unchecked: {rows['v/white-on-white#1'][1]}"),
    }


def test_claim_page_says_why_a_quote_does_not_count(without_chromium: dict) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from test_web import make_datasette
    from test_web import text_of as page_text

    def in_thread(*args: object) -> object:  # the module's browser holds this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(*args).result()

    ds = in_thread(make_datasette, without_chromium["archive"])

    def text_of(ds: object, path: str) -> str:
        return in_thread(page_text, ds, path)  # type: ignore[return-value]

    hidden = text_of(ds, "/-/claim/v/font-size-0")
    assert '<p class="problem unseen">Not counted as found: present only in text hidden from readers: font size 0.</p>' in hidden
    assert "This does not prove the claim true." not in hidden
    assert '<dd class="visibility">hidden: font size 0 (decided by static (lxml ' in hidden
    unchecked = text_of(ds, "/-/claim/v/off-screen")
    assert "Not counted as found: visibility unchecked: Chromium not available: no executable at " in unchecked
    details = text_of(ds, "/-/claim/v/details")
    assert "is visible only on interaction: inside a closed &lt;details&gt;" in details
    assert '<dd class="visibility">visible on interaction: inside a closed &lt;details&gt; (decided by static' in details
    assert "This does not prove the claim true." in details


def test_the_evidence_package_carries_visibility(without_chromium: dict) -> None:
    import sqlite3

    tmp = without_chromium["tmp"]
    out = khronika("export", "v", "--archive", str(without_chromium["archive"]), "--out", str(tmp / "bag"))
    assert out.code == 0, out.err
    conn = sqlite3.connect(tmp / "bag" / "data" / "archive.db")
    try:
        rows = conn.execute("SELECT citation_id, state FROM visibility ORDER BY citation_id").fetchall()
        checks = conn.execute("SELECT subject, state FROM verify_results WHERE [check] = 'visibility' "
                              "ORDER BY subject").fetchall()
    finally:
        conn.close()
    assert rows == [("v/details#1", "visible on interaction"), ("v/font-size-0#1", "hidden"),
                    ("v/normal#1", "visible"), ("v/off-screen#1", "visibility unchecked"),
                    ("v/white-on-white#1", "visibility unchecked")]
    assert [s for s, _ in checks] == [f"visibility of citation v/{n}#1" for n in sorted(NO_BROWSER_PAGES)]
    report = (tmp / "bag" / "data" / "report.html").read_text(encoding="utf-8")
    assert "Visibility to a reader: hidden: font size 0 (decided by static (lxml " in report
    from ingest.evidence.bagverify import verify_bag

    bad = [(c.check, c.subject, c.state) for c in verify_bag(tmp / "bag").checks if c.state in ("mismatch", "missing")]
    assert bad == []  # the visibility rows match their log entries in the bag


def test_verify_reports_a_changed_visibility(tmp_path: Path, site: Site) -> None:
    """A visibility recorded earlier (here: as an older release would have said it) that the same
    method no longer gives is a mismatch, and the record itself is left as it was."""
    from ingest.store.archive import Archive

    case = write_case(tmp_path / "case", site, ["font-size-0"])
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    with Archive.open(archive) as held:
        row = next(held.db.query("SELECT * FROM visibility"))
        row.update(state="visible", reason=None)
        with held.batch():
            held.record("visibility_checked", "visibility", row["citation_id"], row)
    out = khronika("verify", "--archive", str(archive), "--json")
    assert out.code == 1
    found = [c for c in json.loads(out.out)["checks"] if c["check"] == "visibility"]
    assert found == [{"check": "visibility", "subject": "visibility of citation v/font-size-0#1", "state": "mismatch",
                      "detail": f"visibility changed: recorded visible by {row['method']}, now hidden (font size 0) "
                                f"by {row['method']}"}]
    assert query(archive / "archive.db", "SELECT state FROM visibility") == [("visible",)]


def test_static_pass_locates_a_quote_only_normalisation_finds() -> None:
    body = page("<p>The court said \u201cheld\u201d, and the stud\u00adent <b>was</b>\n  taken away.</p>")
    assert verdict(StaticPage(body, None).judge('The court said "held", and the student was taken away.')) == ("visible", "")
    hidden = page("<p hidden>The court said \u201cheld\u201d for now.</p>")
    assert verdict(StaticPage(hidden, None).judge('the court said "held" for now.')) == ("hidden", "hidden attribute")


@pytest.mark.slow
def test_bench_measures_the_visibility_stage_apart(tmp_path: Path) -> None:
    from ingest.bench import synth
    from ingest.bench.visibility_bench import bench_visibility, markdown_rows

    case_file, _ = synth.build(tmp_path / "corpus", 3, 3, pdf_share=0.0)
    result = khronika("run", str(case_file), "--archive", str(tmp_path / "archive"), "--offline", "--visibility", "off")
    assert result.code == 0 and "note: visibility" not in result.err
    assert query(tmp_path / "archive" / "archive.db", "SELECT count(*) FROM visibility") == [(0,)]
    assert query(tmp_path / "archive" / "archive.db", "SELECT DISTINCT status FROM claims") == [("unsourced",)]
    n = query(tmp_path / "archive" / "archive.db", "SELECT count(*) FROM citations")[0][0]
    out = bench_visibility(tmp_path / "archive", tmp_path / "vis", 2, lambda s: None)
    assert (out["static_quotes"], out["static_states"]) == (n, {"visible": n})
    m = query(tmp_path / "vis" / "archive" / "archive.db", "SELECT count(*) FROM citations")[0][0]
    assert (out["chromium_quotes"], out["chromium_pages"], out["chromium_states"]) == (m, 2, {"visible": m})
    assert out["static_quotes_per_second"] > 0 and out["chromium_quotes_per_second"] > 0
    rows = markdown_rows(out)
    assert rows[0].startswith(f"| visibility, static pass | {n} quotes in ") and f"quotes/s ({{'visible': {n}}}) | | |" in rows[0]
    assert rows[1].startswith(f"| visibility, Chromium ({out['browser']}) | {m} quotes on 2 pages in ")


@pytest.mark.slow
def test_a_page_whose_scripts_never_stop_is_unchecked_and_the_next_page_still_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.claims import render_worker
    from ingest.store.archive import Archive

    with Archive.open(tmp_path / "archive", create=True):
        pass
    monkeypatch.setattr(render_worker, "PAGE_LIMIT", 8.0)
    hang = tmp_path / "hang.html"
    hang.write_bytes(page(f'<p style="color:#333">{Q}</p><script>addEventListener("load", '
                          '() => setTimeout(() => { while (true) {} }, 0))</script>'))
    fine = tmp_path / "fine.html"
    fine.write_bytes(PAGES["off-screen"][0])
    worker = render_worker.RenderWorker(tmp_path / "archive")
    try:
        first = worker.render("http://127.0.0.1:9/hang", hang, "text/html", [Q])
        assert ([verdict(v) for v in first[0]], first[1]) == (
            [("visibility unchecked", "rendering in Chromium did not finish within 8 s")], {})
        assert worker.process.proc is None  # the browser's process groups were killed
        second = worker.render("http://127.0.0.1:9/fine", fine, "text/html", [Q])
        assert [verdict(v) for v in second[0]] == [("hidden", "off-screen")]
        group = worker.process.proc.pid if worker.process.proc else None
    finally:
        worker.close()
    assert group is not None
    deadline = time.monotonic() + 10  # killed processes are reaped by init a moment later
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_visibility_off_then_static_over_the_whole_table(tmp_path: Path, site: Site) -> None:
    """--visibility off leaves every HTML quote uncounted ("not yet checked"); a later run with
    --visibility static judges them all without a browser, the undecided recorded as unchecked."""
    case = write_case(tmp_path / "case", site, TABLE)
    archive = tmp_path / "archive"
    db = archive / "archive.db"
    off = khronika("run", str(case), "--archive", str(archive), "--visibility", "off")
    assert off.code == 0, off.err
    assert query(db, "SELECT count(*) FROM visibility") == [(0,)]
    statuses = dict(query(db, "SELECT slug, status_reason FROM claims WHERE slug != 'comment'"))
    assert statuses == {n: f"no supporting quote present; citation 1 (v/{n}): visibility not yet checked"
                        for n in TABLE if n != "comment"}

    static = khronika("run", str(case), "--archive", str(archive), "--visibility", "static")
    assert static.code == 0, static.err
    assert ("note: visibility of 13 quote(s): 3 visible, 1 visible on interaction, 6 hidden, 3 visibility unchecked "
            "(13 by static)") in static.err
    rows = {r[0].split("/")[1].split("#")[0]: r[1:] for r in query(
        db, "SELECT citation_id, state, coalesce(reason, '') FROM visibility")}
    expected = {}
    for name in TABLE:
        state, reason = (PAGES.get(name) or MORE[name])[1]
        if name == "comment":
            continue  # never anchored
        expected[name] = (state, reason) if state != "undecided" else (
            "visibility unchecked", f"Chromium not used; the static pass could not decide ({reason})")
    assert rows == expected
    statuses = {r[0]: (r[1], r[2]) for r in query(db, "SELECT slug, status, status_reason FROM claims WHERE slug != 'comment'")}
    assert statuses == {n: expected_status(n, *expected[n]) for n in expected}
