"""The web site, through Datasette's in-process client, against archives built by the real pipeline."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

STATEMENT_B3 = "77ec5b6c21335dde4704c9ffd284a08f78d6af07d7104a9f16316287f9b658c6"
STATEMENT_SHA = "f50210f1743d5db8831df08177726a7377f47f07a284594612b240304f22d88e"
CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

HOSTILE_HTML = """<!doctype html><html><head><meta charset="utf-8">
<title>Report &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(1)&gt;</title>
<meta name="author" content="Ivan"></head><body><article><h1>Report on the court hearing</h1>
<p>Witnesses said that &lt;script&gt;alert(1)&lt;/script&gt; was painted on the wall near the court building on Monday.</p>
<p>Next to it someone wrote &lt;img src=x onerror=alert(1)&gt; and a link <a href="javascript:alert(1)">javascript:alert(1)</a> in red paint.</p>
<p>Гарри Азаряна доставили в суд в понедельник; защита Азаряну передала документы, всё было спокойно.</p>
{extra}
</article></body></html>"""

HOSTILE_CASE = """case:
  id: hostile
  title: "Hostile <script>alert(1)</script> case"
sources:
  - id: report
    path: docs/report.html
    title: "Report <img src=x onerror=alert(1)>"
    kind: report
    outlet: "Outlet <script>alert(1)</script>"
    published: "2025-05-20"
claims:
  - id: wall-painting
    text: "Someone painted <script>alert(1)</script> on the wall; see <img src=x onerror=alert(1)>."
    date: "2025-05-19"
    type: vandalism
    people: ["Гарри Азарян"]
    citations:
      - source: report
        quote: "<script>alert(1)</script> was painted on the wall"
        stance: supports
      - source: report
        quote: "<img src=x onerror=alert(1)> and a link javascript:alert(1)"
        stance: supports
"""


def build_archive(folder: Path, extra_html: str = "") -> Path:
    """Run the real pipeline on the default case and a hostile case; return the archive folder."""
    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    hostile = folder / "hostile"
    (hostile / "docs").mkdir(parents=True)
    (hostile / "docs" / "report.html").write_text(HOSTILE_HTML.format(extra=extra_html), encoding="utf-8")
    (hostile / "hostile.yml").write_text(HOSTILE_CASE, encoding="utf-8")
    cases = [load_case(ROOT / "cases" / "workers-power.yml", "cases/workers-power.yml"), load_case(hostile / "hostile.yml")]
    archive_dir = folder / "archive"
    with Archive.open(archive_dir, create=True) as archive:
        report = run(cases, archive, RunOptions(offline=True))
    assert not report.failed
    return archive_dir


def make_datasette(archive_dir: Path):  # type: ignore[no-untyped-def]
    from datasette.app import Datasette

    from ingest.site.publish import ensure_snapshot
    from ingest.site.serve import settings

    snap = ensure_snapshot(archive_dir)
    return Datasette(
        immutables=[str(snap.db)],
        settings=settings(),
        metadata=yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8")),
        plugins_dir=str(ROOT / "plugins"),
        template_dir=str(ROOT / "templates"),
        inspect_data=json.loads(snap.inspect.read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    archive_dir = build_archive(tmp_path_factory.mktemp("web"))
    return archive_dir, make_datasette(archive_dir)


@pytest.fixture(scope="module")
def ds(built: tuple[Path, Any]) -> Any:
    return built[1]


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def text_of(ds: Any, path: str, status: int = 200) -> str:
    response = get(ds, path)
    assert response.status_code == status, (path, response.status_code, response.text[:500])
    return response.text


# -- the published copy --------------------------------------------------------------------------


def test_snapshot_is_a_separate_read_only_copy_rebuilt_only_when_the_archive_changes(built: tuple[Path, Any]) -> None:
    from ingest.site.publish import ensure_snapshot

    archive_dir, _ = built
    published = archive_dir / "published" / "archive.db"
    conn = sqlite3.connect(published)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.execute("SELECT count(*) FROM claims_fts").fetchone()[0] == 21
    finally:
        conn.close()
    assert not Path(str(published) + "-wal").exists()
    again = ensure_snapshot(archive_dir)
    assert (again.rebuilt, again.reason) == (False, "the published copy is current")
    # The live database is never the served one: it stays in WAL mode, the copy does not.
    live = sqlite3.connect(archive_dir / "archive.db")
    try:
        assert live.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        live.close()


def test_nothing_in_the_published_copy_names_this_machine(built: tuple[Path, Any]) -> None:
    archive_dir, _ = built
    data = (archive_dir / "published" / "archive.db").read_bytes()
    wal = Path(str(archive_dir / "archive.db") + "-wal")
    live = (archive_dir / "archive.db").read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    where = str(archive_dir.parent).encode()
    # The hostile case was loaded by an absolute path outside the working folder: neither the
    # records nor the published copy name that folder (the records keep the file's own name).
    assert where not in live
    assert where not in data
    assert str(Path.home()).encode() not in data
    assert b"/tmp/" not in data
    rows = sqlite3.connect(archive_dir / "published" / "archive.db").execute(
        "SELECT path FROM sources WHERE id = 'hostile/report'").fetchall()
    assert rows == [("docs/report.html",)]
    inspect = json.loads((archive_dir / "published" / "inspect.json").read_text())
    assert inspect["archive"]["file"] == "archive.db"


def test_every_table_and_column_has_a_description(built: tuple[Path, Any]) -> None:
    archive_dir, _ = built
    meta = yaml.safe_load((ROOT / "metadata.yml").read_text(encoding="utf-8"))["databases"]["archive"]["tables"]
    conn = sqlite3.connect(archive_dir / "published" / "archive.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    fts = {t for t in tables if t.endswith("_fts")}
    shadows = {f"{t}_{s}" for t in fts for s in ("data", "idx", "docsize", "config", "content")}
    checked = 0
    for table in tables:
        if table.startswith("sqlite_") or table in shadows:
            continue
        assert meta.get(table, {}).get("description"), f"table {table} has no description"
        for (col,) in conn.execute(f"SELECT name FROM pragma_table_info('{table}')"):
            assert meta[table].get("columns", {}).get(col), f"column {table}.{col} has no description"
            checked += 1
    assert checked > 150
    from ingest.store.db import SCHEMA
    assert set(SCHEMA) <= set(meta)


# -- pages ----------------------------------------------------------------------------------------


def test_home_links_every_case(ds: Any) -> None:
    html = text_of(ds, "/")
    assert '<a href="/-/timeline/workers-power">Timeline</a>' in html
    assert '<a href="/archive/claims?case_id=workers-power">Claims</a> (20)' in html
    assert '<a href="/archive/sources?case_id=workers-power">Sources</a> (9)' in html
    assert "<h3>Hostile &lt;script&gt;alert(1)&lt;/script&gt; case</h3>" in html
    assert '<a href="/-/search">Search</a>' in html


def test_claim_page_shows_the_quote_in_its_archived_context(ds: Any) -> None:
    html = text_of(ds, "/-/claim/workers-power/uvarov-installation")
    statement = (ROOT / "cases" / "workers-power" / "statement.txt").read_text(encoding="utf-8")
    quote = "an installation that appeared on March 24 on the monument to Count Uvarov"
    start = statement.index(quote)
    before = statement[max(0, start - 200):start]
    after = statement[start + len(quote):start + len(quote) + 200]
    from markupsafe import escape
    assert f"{escape(before)}<mark>{quote}</mark>{escape(after)}…" in html
    assert "The quoted words are present in an intact archived copy of the source captured at " in html
    assert "This does not prove the claim true." in html
    assert "verified" not in html.lower() and " true." not in html.replace("claim true.", "")
    assert f'<a class="archived-copy" href="/-/archive/{STATEMENT_B3}">Archived copy</a> (text/plain)' in html
    assert f'<a class="extracted-text" href="/-/archive/{STATEMENT_B3}/text">Extracted text</a>' in html
    assert (f'<dt>Content SHA-256</dt><dd><code class="hash">{STATEMENT_SHA}</code> <span class="note">of the archived '
            "copy as stored (a compressed response decoded); the WARC record's payload digest is of the bytes as sent"
            "</span></dd>") in html  # which hash this is (docs/formats.md)
    assert f'<dt>Content BLAKE3</dt><dd><code class="hash">{STATEMENT_B3}</code></dd>' in html
    assert '<span class="match">exact</span>' in html
    assert "2025-03-24 (inferred)" in html
    assert '<span class="status status-sourced">sourced</span> — all 1 supporting quote(s) present in archived captures' in html
    assert 'class="live"' not in html  # a local document has no live page


def test_claim_page_of_a_url_source_links_the_live_page_with_a_text_fragment(ds: Any) -> None:
    from ingest.claims.fragments import text_fragment_url
    from ingest.site.web import is_web_url

    assert text_fragment_url("https://example.org/a", "two words") == "https://example.org/a#:~:text=two%20words"
    assert not is_web_url("javascript:alert(1)") and not is_web_url("file:///etc/passwd") and is_web_url("https://x.org/")


def test_unknown_claim_case_and_source_are_404(ds: Any) -> None:
    assert "no claim workers-power/nope" in text_of(ds, "/-/claim/workers-power/nope", 404)
    assert get(ds, "/-/timeline/nope").status_code == 404
    assert get(ds, "/-/source/workers-power/nope").status_code == 404
    assert get(ds, "/-/claim/Workers/x").status_code == 404


def test_timeline_draws_every_dated_claim_and_lists_the_undated(ds: Any) -> None:
    html = text_of(ds, "/-/timeline/workers-power")
    assert html.count('<a href="/-/claim/workers-power/') == 20 + 6  # svg marks + table rows + undated list
    assert html.count('class="mark"') == 6
    assert '<a href="/-/claim/workers-power/sidorov-fined" class="mark" data-claim="workers-power/sidorov-fined"><title>2025-03-13 · sourced · ' in html
    assert '<text x="160" y="51.0" text-anchor="end" class="lane">detention</text>' in html
    assert "Mar 2025" in html and "Jun 2025" in html
    assert html.count("<li><a href=\"/-/claim/workers-power/") == 14
    assert "<script" not in html.split("</header>")[1].split("<footer")[0]


def test_source_page_lists_captures_and_wanted_gaps(ds: Any) -> None:
    html = text_of(ds, "/-/source/workers-power/statement")
    assert "<th>Address</th><th>Content BLAKE3</th>" in html
    assert f'<a href="/-/archive/{STATEMENT_B3}"><code class="hash">{STATEMENT_B3}</code></a>' in html
    assert "<td>local_file</td><td>captured</td>" in html
    assert "Gap:" not in html
    gap = text_of(ds, "/-/source/workers-power/ria-novosti-first-report")
    assert "Gap: this source is wanted. It is known to exist, but its address is not yet known" in gap
    assert "<p>No captures.</p>" in gap


def test_source_page_diffs_consecutive_versions(built: tuple[Path, Any], tmp_path: Path) -> None:
    from ingest.site.web import text_diff

    assert text_diff("a\nb <x>\nc", "a\nb <y>\nc", "version 1", "version 2") == [
        ("head", "--- version 1"), ("head", "+++ version 2"), ("hunk", "@@ -1,3 +1,3 @@"), ("same", " a"),
        ("del", "-b <x>"), ("add", "+b <y>"), ("same", " c")]


def test_archive_route_serves_exact_bytes_with_safe_headers(ds: Any) -> None:
    r = get(ds, f"/-/archive/{STATEMENT_B3}")
    assert r.status_code == 200
    assert r.content == (ROOT / "cases" / "workers-power" / "statement.txt").read_bytes()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["x-khronika-blake3"] == STATEMENT_B3
    assert r.headers["x-khronika-sha256"] == STATEMENT_SHA
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-security-policy"] == CSP
    t = get(ds, f"/-/archive/{STATEMENT_B3}/text")
    assert t.status_code == 200
    assert t.headers["content-type"] == "text/plain; charset=utf-8"
    assert t.headers["x-content-type-options"] == "nosniff"
    assert "an installation that appeared on March 24 on the monument to Count Uvarov" in t.text


def test_archived_html_is_sandboxed(ds: Any, built: tuple[Path, Any]) -> None:
    archive_dir, _ = built
    b3 = sqlite3.connect(archive_dir / "archive.db").execute(
        "SELECT blake3 FROM captures WHERE source_id = 'hostile/report'").fetchone()[0]
    r = get(ds, f"/-/archive/{b3}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"] == CSP
    assert "Content-Disposition" not in r.headers


@pytest.mark.parametrize("path", [
    "/-/archive/../../etc/passwd", "/-/archive/..%2F..%2Fetc%2Fpasswd", "/-/archive/" + "a" * 63,
    "/-/archive/" + "a" * 64, "/-/archive/" + STATEMENT_B3.upper(), "/-/archive/" + STATEMENT_B3 + "x",
    "/-/archive/", "/-/archive/%00", "/-/archive/" + "a" * 64 + "/text", "/-/archive/../../etc/passwd/text",
])
def test_archive_route_refuses_anything_but_a_known_hash(ds: Any, path: str) -> None:
    r = get(ds, path)
    assert r.status_code == 404
    assert "root:" not in r.text


def test_search_finds_inflected_cyrillic_names_and_folds_yo(ds: Any) -> None:
    html = text_of(ds, "/-/search?q=%D0%B0%D0%B7%D0%B0%D1%80%D1%8F%D0%BD")  # азарян
    assert "<mark>Азаряна</mark>" in html and "<mark>Азаряну</mark>" in html
    assert '<a href="/-/claim/hostile/wall-painting">hostile/wall-painting</a>' in html
    yo = text_of(ds, "/-/search?q=%D0%B2%D1%81%D0%B5")  # все → всё
    assert "<mark>всё</mark>" in yo
    upper = text_of(ds, "/-/search?q=%D0%92%D0%A1%D0%81")  # ВСЁ
    assert "<mark>всё</mark>" in upper
    en = text_of(ds, "/-/search?q=Uvarov+monument")
    assert '<a href="/-/claim/workers-power/uvarov-installation">' in en
    assert "<mark>monument</mark>" in en


@pytest.mark.parametrize("q,expect", [
    ("", "Type one or more words"), ("*", "found no words"), ('"abc', "Nothing found."),
    ("C%2B%2B", "Nothing found."), ("NOT", "<mark>not</mark>"), ("AND+OR", "Documents (1)"), ("zzqx+%22", "Nothing found."),
    ("%22Azaryan", "<mark>Azaryan</mark>"), ("%3Cscript%3E", "<mark>script</mark>"),
])
def test_search_never_fails_on_odd_input(ds: Any, q: str, expect: str) -> None:
    assert expect in text_of(ds, f"/-/search?q={q}")


def test_search_escapes_hostile_text(ds: Any) -> None:
    html = text_of(ds, "/-/search?q=wall")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert" not in html


@pytest.mark.parametrize("path", [
    "/archive/claims?_search=%22abc", "/archive/claims?_search=C%2B%2B", "/archive/claims?_search=NOT",
    "/archive/claims?_search=AND+OR", "/archive/claims?_search=*", "/archive/extractions?_search=%22abc",
    "/archive/extractions?_search=*&_searchmode=raw", "/archive/claims?_search=%22abc&_searchmode=raw",
    "/archive/claims?_search=AND+OR&_searchmode=raw", "/archive/claims?_sort=nope", "/archive/claims?_sort_desc=nope",
    "/archive/claims?_facet=nope", "/archive/claims?_size=-1", "/archive/claims?_next=zzz", "/archive/nope",
    "/archive/claims.json?_shape=bad", "/archive/claims?date__gt=x&_where=1)", "/-/claim/a/b/c",
])
def test_no_url_is_a_server_error(ds: Any, path: str) -> None:
    assert get(ds, path).status_code < 500, path


def test_claims_table_links_to_claim_pages(ds: Any) -> None:
    html = text_of(ds, "/archive/claims?_sort=id")
    assert '<td class="col-slug type-str"><a href="/-/claim/workers-power/uvarov-installation">uvarov-installation</a></td>' in html
    assert '<a href="/-/claim/hostile/wall-painting">wall-painting</a>' in html
    sources = text_of(ds, "/archive/sources")
    assert '<a href="/-/source/workers-power/statement">statement</a>' in sources


def test_hostile_values_are_escaped_everywhere(ds: Any) -> None:
    claim = text_of(ds, "/-/claim/hostile/wall-painting")
    assert "<mark>&lt;script&gt;alert(1)&lt;/script&gt; was painted on the wall</mark>" in claim
    assert "<mark>&lt;img src=x onerror=alert(1)&gt; and a link javascript:alert(1)</mark>" in claim
    assert "Outlet &lt;script&gt;alert(1)&lt;/script&gt;" in claim
    source = text_of(ds, "/-/source/hostile/report")
    assert "<h1>Report &lt;img src=x onerror=alert(1)&gt;</h1>" in source
    for html in (claim, source, text_of(ds, "/-/timeline/hostile"), text_of(ds, "/")):
        assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html


def rows_of(ds: Any, path: str) -> list[dict[str, Any]]:
    r = get(ds, path)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def test_canned_queries(ds: Any) -> None:
    timeline = rows_of(ds, "/archive/case_timeline.json?case=workers-power&_shape=array")
    assert [(r["date"], r["id"]) for r in timeline[:6]] == [
        ("2025-03-13", "workers-power/sidorov-fined"), ("2025-03-24", "workers-power/uvarov-installation"),
        ("2025-04-21", "workers-power/independent-media-timofeyev-report"),
        ("2025-04-21", "workers-power/ria-novosti-reports-student-group"),
        ("2025-05-15", "workers-power/searches-15-may"), ("2025-05-16", "workers-power/azaryan-detained")]
    assert len(timeline) == 20 and timeline[6]["date"] is None
    person = rows_of(ds, "/archive/claims_about_person.json?person=Harry+Azaryan&_shape=array")
    assert [r["id"] for r in person] == [
        "workers-power/searches-15-may", "workers-power/azaryan-detained", "workers-power/azaryan-criminal-case",
        "workers-power/investigative-committee-allegations", "workers-power/statement-authors-position"]
    assert rows_of(ds, "/archive/claims_not_sourced.json?_shape=array") == []
    assert rows_of(ds, "/archive/sources_changed_or_gone.json?_shape=array") == []
    assert rows_of(ds, "/archive/quotes_moved_or_changed.json?_shape=array") == []
    assert rows_of(ds, "/archive/latest_verify_results.json?_shape=array") == []


def test_canned_queries_show_changes_and_verify_results(tmp_path: Path) -> None:
    """A changed local document and a verify run appear in the canned queries of a fresh snapshot."""
    from ingest.checks.verify import verify
    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.site.publish import ensure_snapshot
    from ingest.store.archive import Archive

    archive_dir = build_archive(tmp_path)
    assert ensure_snapshot(archive_dir).reason == "no published copy yet"
    report = tmp_path / "hostile" / "docs" / "report.html"
    report.write_text(report.read_text(encoding="utf-8").replace("on Monday", "on Tuesday"), encoding="utf-8")
    with Archive.open(archive_dir) as archive:
        run([load_case(tmp_path / "hostile" / "hostile.yml")], archive, RunOptions(offline=True))
        seq = archive.log.head().seq
        verify(archive)
    again = ensure_snapshot(archive_dir)
    assert again.rebuilt
    assert again.reason == f"the archive changed since the published copy was made (log seq 87 -> {seq}, verify runs 0 -> 1)"  # 87: 2 visibility records
    ds = make_datasette(archive_dir)
    changed = rows_of(ds, "/archive/sources_changed_or_gone.json?_shape=array")
    assert [(r["source_id"], r["what"], r["version"]) for r in changed] == [("hostile/report", "changed", 2)]
    latest = rows_of(ds, "/archive/latest_verify_results.json?_shape=array")
    assert latest and {r["state"] for r in latest} == {"ok"}
    html = text_of(ds, "/-/source/hostile/report")
    assert '<span class="changed">changed</span>' in html
    assert '<span class="del">-Witnesses said that &lt;script&gt;alert(1)&lt;/script&gt; was painted on the wall near the court building on Monday.</span>' in html
    assert '<span class="add">+Witnesses said that &lt;script&gt;alert(1)&lt;/script&gt; was painted on the wall near the court building on Tuesday.</span>' in html
