"""The public site refuses visitor SQL and malformed parameters, bounds what it runs, shows no local
path, sends its security headers on every page and shows bidi controls instead of applying them:
through the real Datasette app, and through real `python -m ingest serve` processes."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, khronika, start_serve, stop_serve
from test_web import make_datasette

CASE = r'''case:
  id: bidi
  title: "Case \u202Eevil\u202C"
sources:
  - id: report
    path: docs/r.txt
    title: "Report \u202Etxt.exe\u202C"
    kind: report
  - id: web
    url: "http://127.0.0.1:9/\u202Egpj.exe"
    title: "Web \u2066x\u2069"
    kind: report
  - id: lost
    wanted: true
    title: "Lost \e]0;owned\a\r35 checks: 35 ok \u202Eevil"
    kind: report
claims:
  - id: hearing
    text: "The hearing was on Monday \u202Eyadnom\u202C."
    citations:
      - source: report
        quote: "the hearing on Monday"
        stance: supports
'''
# Sandboxed; framed only by Khronika's own copy page (/-/copy/<blake3>).
ARCHIVE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
REPORT_B3 = "d58055d79409"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive made by a real `run` of a case whose titles and URL carry control and bidi characters."""
    folder = tmp_path_factory.mktemp("guard")
    (folder / "docs").mkdir()
    (folder / "docs" / "r.txt").write_text("A plain report about the hearing on Monday, with enough words to "
                                           "be extracted as text.\n", encoding="utf-8")
    (folder / "bidi.yml").write_text(CASE, encoding="utf-8")
    result = khronika("run", "bidi.yml", "--archive", "archive", "--offline", cwd=folder)
    assert result.code == 1, result.err  # the URL source cannot be fetched offline
    return folder


@pytest.fixture(scope="module")
def ds(folder: Path) -> Any:
    return make_datasette(folder / "archive")


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


# -- no SQL written by a visitor -----------------------------------------------------------------

@pytest.mark.parametrize("path, status", [
    ("/archive?sql=select+randomblob(1000000000)", 403),
    ("/archive.json?sql=select+*+from+pragma_database_list", 403),
    ("/archive.csv?sql=select+1", 403),
    ("/_memory?sql=select+1", 404),
    ("/_memory.json?sql=select+1", 404),
])
def test_no_arbitrary_sql(ds: Any, path: str, status: int) -> None:
    r = get(ds, path)
    assert r.status_code == status
    assert "pragma_database_list" not in r.text or "/archive.db" not in r.text


def test_where_is_refused_with_400(ds: Any) -> None:
    r = get(ds, "/archive/claims.json?_where=length(randomblob(1000000000))")
    assert (r.status_code, r.json()) == (400, {
        "ok": False, "error": "_where= is not available: this site runs only its own pages and canned queries",
        "status": 400, "title": "Bad request"})
    page = get(ds, "/archive/claims?_where=1")
    assert page.status_code == 400
    assert "<p>_where= is not available: this site runs only its own pages and canned queries</p>" in page.text


def test_table_pages_offer_no_sql_editing(ds: Any) -> None:
    html = get(ds, "/archive/claims").text
    assert "View and edit SQL" not in html and "?sql=" not in html


def test_canned_queries_still_run(ds: Any) -> None:
    r = get(ds, "/archive/case_timeline.json?case=bidi&_shape=array")
    assert (r.status_code, [row["id"] for row in r.json()]) == (200, ["bidi/hearing"])


THROUGH = '_through= must be a JSON object {"table": ..., "column": ..., "value": ...} with text table and column names'


@pytest.mark.parametrize("query, error", [
    ("_through={}", THROUGH),
    ("_through=notjson", THROUGH),
    ('_through={"table":"x"}', THROUGH),
    ('_through={"table":"claim_people"}', THROUGH),
    ('_through=[1]', THROUGH),
    ('_through={"table":1,"column":[],"value":{}}', THROUGH),
    ('_through={"table":"x","column":"y","value":"1"}', "Invalid _through - could not find corresponding foreign key"),
    ("id__in=%5B1%2C", "id__in= must be a JSON list of values or a comma-separated list, not '[1,'"),
    ("id__notin=%5B1%2C", "id__notin= must be a JSON list of values or a comma-separated list, not '[1,'"),
    ("id__in=[[1]]", "id__in= must be a JSON list of values or a comma-separated list, not '[[1]]'"),
    ("_timelimit=x", "_timelimit= must be a whole number of milliseconds, not 'x'"),
    ("id__lt=99999999999999999999", "id__lt= 99999999999999999999 is beyond SQLite's 64-bit integers"),
    ("withdrawn__gte=-9223372036854775809", "withdrawn__gte= -9223372036854775809 is beyond SQLite's 64-bit integers"),
    ("_json_infinity=x", "_json_infinity= must be on, off, true, false, 1 or 0, not 'x'"),
    ("_facet=%00", "_facet=: query parameters may not contain NUL characters"),
    ("_facet=%7B%7D", '_facet= starting with { must be a JSON object {"simple": "column name"}, not \'{}\''),
    ("_facet_date=%7Bx", '_facet_date= starting with { must be a JSON object {"simple": "column name"}, not \'{x\''),
])
def test_malformed_parameters_are_400_not_500(ds: Any, query: str, error: str) -> None:
    r = get(ds, f"/archive/claims.json?{query}")
    assert (r.status_code, r.json()["error"]) == (400, error)


@pytest.mark.parametrize("path", [
    "/archive/claims.csv?id__lt=99999999999999999999", "/archive/case_timeline.json?case=bidi&_json_infinity=",
    "/archive/claims/bidi~2Fhearing.json?_json_infinity=x", "/archive/claims?_facet_array=%7B%7D",
])
def test_other_pages_answer_400_too(ds: Any, path: str) -> None:
    assert get(ds, path).status_code == 400


def test_well_formed_parameters_still_work(ds: Any) -> None:
    assert get(ds, "/archive/claims.json?id__lt=9223372036854775807&_json_infinity=on").status_code == 200
    facets = get(ds, '/archive/claims.json?_facet={"simple":"status"}').json()["facet_results"]
    assert [(v["value"], v["count"]) for v in facets["status"]["results"]] == [("sourced", 1)]


def test_a_well_formed_through_still_works(ds: Any) -> None:
    r = get(ds, '/archive/claims.json?_through={"table":"claim_people","column":"person","value":"x"}&_shape=array')
    assert (r.status_code, r.json()) == (200, [])


# -- bounded -------------------------------------------------------------------------------------

def test_settings_bound_every_query(ds: Any) -> None:
    settings = get(ds, "/-/settings.json").json()
    assert {k: settings[k] for k in ("sql_time_limit_ms", "facet_time_limit_ms", "max_returned_rows",
                                    "default_allow_sql")} == {
        "sql_time_limit_ms": 2000, "facet_time_limit_ms": 200, "max_returned_rows": 1000, "default_allow_sql": False}


def test_no_value_over_256_mib_is_built_on_the_sites_connections(ds: Any) -> None:
    db = ds.get_database("archive")
    assert asyncio.run(db.execute("select length(zeroblob(268435456))")).rows[0][0] == 268435456
    for sql in ("select length(zeroblob(268435457))", "select length(randomblob(1000000000))"):
        with pytest.raises(sqlite3.DataError, match="string or blob too big"):
            asyncio.run(db.execute(sql))


def test_a_slow_query_is_stopped_after_the_time_limit(ds: Any) -> None:
    from datasette.database import QueryInterrupted

    db = ds.get_database("archive")
    slow = "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
    start = time.monotonic()
    with pytest.raises(QueryInterrupted):
        asyncio.run(db.execute(slow, custom_time_limit=ds.setting("sql_time_limit_ms")))
    assert time.monotonic() - start < 10


# -- no local path ------------------------------------------------------------------------------

def test_no_page_shows_where_the_archive_lies(ds: Any, folder: Path) -> None:
    r = get(ds, "/-/databases.json")
    assert [{k: v for k, v in d.items() if k != "hash"} for d in r.json()] == [
        {"name": "archive", "route": "archive", "size": (folder / "archive" / "published" / "archive.db").stat().st_size,
         "is_mutable": False, "is_memory": False}]
    for path in ("/-/databases.json", "/-/databases", "/-/metadata.json", "/-/settings.json", "/-/versions.json",
                 "/-/plugins.json", "/archive/nope", "/archive/claims.json?_sort=nope", "/-/claim/x/y",
                 "/archive.json?sql=select+*+from+pragma_database_list", "/archive/claims?_where=1",
                 "/archive/claims.json?id__in=%5B1%2C"):
        body = get(ds, path).text
        assert str(folder) not in body and str(ROOT) not in body and "/tmp" not in body, path


def test_the_published_copy_keeps_no_free_page_and_no_trace_of_the_folder(ds: Any, folder: Path) -> None:
    import sqlite3

    published = folder / "archive" / "published"
    snap = published / "archive.db"
    conn = sqlite3.connect(f"file:{snap}?mode=ro", uri=True)
    assert conn.execute("PRAGMA freelist_count").fetchone() == (0,)  # packed: nothing the scrub removed lingers
    conn.close()
    raw = snap.read_bytes()
    assert str(folder).encode() not in raw and b"/tmp/" not in raw
    assert [p.name for p in published.iterdir() if p.name.startswith(".tmp-")] == []  # no working copy left behind


# -- headers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/", "/-/claim/bidi/hearing", "/-/timeline/bidi", "/-/source/bidi/report", "/-/search?q=hearing",
    "/archive", "/archive/claims", "/archive/claims.json", "/archive/case_timeline?case=bidi", "/-/databases.json",
    "/-/static/app.css", "/archive/nope", "/-/claim/x/y", "/archive/claims?_where=1", "/archive?sql=select+1",
])
def test_every_page_forbids_framing_and_sniffing(ds: Any, path: str) -> None:
    h = get(ds, path).headers
    assert (h["x-content-type-options"], h["x-frame-options"], h["content-security-policy"]) == (
        "nosniff", "DENY", "frame-ancestors 'none'")


def test_archived_copies_keep_their_own_csp(ds: Any, folder: Path) -> None:
    con = sqlite3.connect(folder / "archive" / "archive.db")
    b3 = con.execute("select blake3 from captures where source_id = 'bidi/report'").fetchone()[0]
    con.close()
    assert b3.startswith(REPORT_B3)
    h = get(ds, f"/-/archive/{b3}").headers
    assert (h["x-content-type-options"], h["x-frame-options"], h["content-security-policy"]) == (
        "nosniff", "SAMEORIGIN", ARCHIVE_CSP)


# -- bidi controls -------------------------------------------------------------------------------

def test_bidi_controls_are_shown_not_applied(ds: Any) -> None:
    pages = {p: get(ds, p).text for p in ("/", "/-/source/bidi/web", "/-/source/bidi/report", "/-/claim/bidi/hearing",
                                          "/-/timeline/bidi", "/archive/sources")}
    assert "<h3>Case &lt;U+202E&gt;evil&lt;U+202C&gt;</h3>" in pages["/"]
    assert ('<dt>Address</dt><dd><a href="http://127.0.0.1:9/%E2%80%AEgpj.exe" rel="noopener noreferrer nofollow">'
            'http://127.0.0.1:9/&lt;U+202E&gt;gpj.exe</a></dd>') in pages["/-/source/bidi/web"]
    assert "<h1>Web &lt;U+2066&gt;x&lt;U+2069&gt;</h1>" in pages["/-/source/bidi/web"]
    assert "<h1>Report &lt;U+202E&gt;txt.exe&lt;U+202C&gt;</h1>" in pages["/-/source/bidi/report"]
    assert '<h1 class="claim-text">The hearing was on Monday &lt;U+202E&gt;yadnom&lt;U+202C&gt;.</h1>' in pages["/-/claim/bidi/hearing"]
    assert "<title>Timeline: Case &lt;U+202E&gt;evil&lt;U+202C&gt;</title>" in pages["/-/timeline/bidi"]
    assert '<td class="col-title type-str">Web &lt;U+2066&gt;x&lt;U+2069&gt;</td>' in pages["/archive/sources"]
    for path, html in pages.items():
        assert not any(ch in html for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"), path


def test_json_keeps_the_data_exact(ds: Any) -> None:
    rows = get(ds, "/archive/sources.json?_shape=array&id=bidi/web").json()
    assert [(r["title"], r["url"]) for r in rows] == [("Web \u2066x\u2069", "http://127.0.0.1:9/\u202egpj.exe")]


# -- the CLI prints it escaped -------------------------------------------------------------------

def test_verify_prints_control_and_bidi_characters_escaped(folder: Path) -> None:
    result = khronika("verify", "--archive", "archive", cwd=folder)
    assert result.out.splitlines()[0] == (
        "gap          source bidi/lost: wanted (address not yet known): "
        "Lost \\x1b]0;owned\\x07\\r35 checks: 35 ok <U+202E>evil")
    assert "\x1b" not in result.out and "\r" not in result.out and "\u202e" not in result.out


def test_run_prints_urls_escaped(folder: Path) -> None:
    result = khronika("run", "bidi.yml", "--archive", "archive", "--offline", cwd=folder)
    assert "failed: bidi/web: never captured, and --offline forbids fetching it" in result.err.splitlines()
    assert "\u202e" not in result.err and "\x1b" not in result.err


def test_cli_json_escapes_what_json_leaves_raw() -> None:
    from ingest.display import json_for_terminal

    text = json.dumps({"t": "a\u202eb\x85c\x1bd"}, ensure_ascii=False)
    assert json_for_terminal(text) == '{"t": "a\\u202eb\\u0085c\\u001bd"}'
    assert json.loads(json_for_terminal(text)) == {"t": "a\u202eb\x85c\x1bd"}


@pytest.mark.parametrize("text, shown", [
    ("\x1b]0;title\x07\rline", "\\x1b]0;title\\x07\\rline"),
    ("a\nb\tc\x00\x7f\x9b", "a\\nb\\tc\\x00\\x7f\\x9b"),
    ("x\u202ey\u2066z\u200fw\u2028", "x<U+202E>y<U+2066>z<U+200F>w\\u2028"),
    ("Гарри Азарян", "Гарри Азарян"),
])
def test_for_terminal(text: str, shown: str) -> None:
    from ingest.display import for_terminal

    assert for_terminal(text) == shown


# -- a real serve process ------------------------------------------------------------------------

@pytest.fixture
def served(folder: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> str:
        proc, base = start_serve("archive", folder / f"serve-{len(procs)}.log", *extra, cwd=folder)
        procs.append(proc)
        return base

    yield start
    for proc in procs:
        stop_serve(proc)


def _status(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_served_site_runs_no_visitor_sql_and_shows_no_path(served: Any, folder: Path) -> None:
    base = served()
    assert _status(base + "/archive.json?sql=select+*+from+pragma_database_list")[0] == 403
    assert _status(base + "/archive.json?sql=select+length(randomblob(1000000000))")[0] == 403
    assert _status(base + "/archive/claims.json?_where=1")[0] == 400
    assert _status(base + "/archive/claims.json?_through=%7B%7D")[0] == 400
    for path in ("/-/databases.json", "/-/metadata.json", "/-/settings.json", "/-/versions.json", "/-/plugins.json",
                 "/archive/nope"):
        status, body = _status(base + path)
        assert str(folder) not in body and str(ROOT) not in body, path
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        assert (r.headers["X-Frame-Options"], r.headers["X-Content-Type-Options"]) == ("DENY", "nosniff")


def test_allow_sql_runs_sql_on_127_0_0_1_only(served: Any, folder: Path) -> None:
    refused = khronika("serve", "--archive", "archive", "--host", "0.0.0.0", "--allow-sql", cwd=folder, timeout=30)
    assert refused.code == 2
    assert refused.err.splitlines()[-1] == (
        "Error: --allow-sql runs any SQL a visitor sends, so it needs --host 127.0.0.1 (not 0.0.0.0); "
        "the public site offers its pages and canned queries only")
    base = served("--allow-sql")
    status, body = _status(base + "/archive.json?sql=select+count(*)+as+n+from+claims&_shape=array")
    assert (status, json.loads(body)) == (200, [{"n": 1}])
    status, body = _status(base + "/archive.json?sql=select+length(randomblob(1000000000))")
    assert status == 400 and "string or blob too big" in body


def test_verify_bag_and_the_report_show_control_and_bidi_characters(folder: Path, tmp_path: Path) -> None:
    exported = khronika("export", "bidi", "--archive", str(folder / "archive"), "--out", str(tmp_path / "bag"))
    assert exported.code == 0, exported.err
    r = khronika("verify-bag", str(tmp_path / "bag"))
    assert r.code == 5
    lines = r.out.splitlines()
    assert lines[0] == "signature: valid, key not pinned: anyone could have made this bag; pass --key-fingerprint"
    assert ("gap          source bidi/lost: wanted (address not yet known): "
            "Lost \\x1b]0;owned\\x07\\r35 checks: 35 ok <U+202E>evil") in lines
    assert "\x1b" not in r.out and "\r" not in r.out and "\u202e" not in r.out
    report = (tmp_path / "bag" / "data" / "report.html").read_text("utf-8")
    assert "<title>Evidence package: Case &lt;U+202E&gt;evil&lt;U+202C&gt;</title>" in report
    assert not any(ch in report for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
