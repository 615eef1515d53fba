"""Captures that do not hold the page's text: application shells flagged incomplete, text found only in metadata."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import Site, khronika, query

from ingest.text.completeness import incomplete_reason
from ingest.text.extract import extract
from ingest.text.metatext import metadata_parts

ARTICLE = ("<html><head><title>Report</title></head><body><noscript>Enable JavaScript to see comments.</noscript>"
           "<article><p>The district court extended the student's arrest by two months on Tuesday.</p>"
           "<p>His lawyers said they would appeal, and that the hearing had been closed to the press.</p>"
           "<p>Friends who came to the court building were not allowed into the corridor.</p></article><div id=\"root\"></div><script src=\"/comments.js\"></script></body></html>")
NOSCRIPT_SHELL = ('<!doctype html><html><head><title>News</title><script defer src="/static/js/main.3f9a1c.js"></script>'
                  '</head><body><noscript>You need to enable JavaScript to run this app.</noscript>'
                  '<div id="root">Loading…</div></body></html>')
REACT_SHELL = ('<!doctype html><html><head><title>Court news</title><link rel="stylesheet" href="/app.css"></head>'
               '<body><div id="__next"></div><script src="/_next/static/chunks/main-1a2b.js"></script>'
               '<script src="/_next/static/chunks/pages/index-3c4d.js"></script></body></html>')
TINY = ("<html><head><title>Portal</title><style>" + "a{color:red}" * 2000 + "</style></head><body>"
        "<article><p>Loading the decision…</p></article></body></html>")
POST = "Суд в Петербурге арестовал студента Гарри Азаряна на два месяца по делу «Рабочей власти»."
TELEGRAM = f"""<!doctype html><html><head><meta charset="utf-8"><title>Telegram: Contact @channel</title>
<meta property="og:title" content="Рабочая власть"><meta property="og:description" content="{POST}">
<meta name="description" content="{POST}"><script type="application/ld+json">{{"@type": "WebPage", "name": "x"}}</script>
</head><body><div class="tgme_page"><div class="tgme_page_title">Telegram</div>
<a class="tgme_action_button_new" href="tg://resolve">View in Telegram</a></div>
<script src="//telegram.org/js/tgwallpaper.min.js"></script>
<script>var TWidget = {{ {"; ".join(f"k{i}: {i}" for i in range(600))} }};</script></body></html>"""


@pytest.mark.parametrize(
    "html, main, reason",
    [
        (ARTICLE, "x" * 300, None),
        (NOSCRIPT_SHELL, "Loading…", "application shell: <noscript> asks for JavaScript ('You need to enable "
         "JavaScript to run this app.'); the page's text is rendered by JavaScript"),
        (REACT_SHELL, "", 'application shell: empty root element <div id="__next"> and 2 script bundle(s); '
         "the page's text is rendered by JavaScript"),
        (TINY, "Loading the decision…", f"main text is tiny against its markup: 21 characters of text in "
         f"{len(TINY)} characters of HTML"),
    ],
)
def test_incomplete_reason(html: str, main: str, reason: str | None) -> None:
    assert incomplete_reason(html, main) == reason


def test_metadata_parts_are_distinct_and_labelled() -> None:
    assert metadata_parts(TELEGRAM) == [("og:description", POST)]
    ld = ('<html><head><script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", "articleBody": '
          '"Full body of the article."}]}</script><meta name="description" content="Full body"></head></html>')
    assert metadata_parts(ld) == [("JSON-LD articleBody", "Full body of the article.")]
    assert metadata_parts('<script type="application/ld+json">{broken</script>') == []


def test_extraction_of_a_telegram_page_appends_the_metadata_part() -> None:
    e = extract(TELEGRAM.encode(), "text/html")
    assert e.error is None
    start = e.text.index(POST)
    assert e.metadata["parts"] == [{"label": "og:description", "start": start, "end": start + len(POST)}]
    assert e.metadata["incomplete"].startswith("main text is tiny against its markup: ")


CASE = """case:
  id: shells
  title: Pages whose text is not in the capture
sources:
  - id: shell
    url: {shell}
  - id: react
    url: {react}
  - id: post
    url: {post}
  - id: article
    url: {article}
claims:
  - id: arrest
    text: Azaryan was arrested for two months
    citations:
      - source: post
        quote: "арестовал студента Гарри Азаряна на два месяца"
        stance: supports
  - id: extended
    text: The arrest was extended
    citations:
      - source: article
        quote: "The district court extended the student's arrest by two months"
        stance: supports
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("incomplete")
    site = Site()
    try:
        urls = {name: site.set(f"/{name}", body.encode(), Content_Type="text/html; charset=utf-8")
                for name, body in (("shell", NOSCRIPT_SHELL), ("react", REACT_SHELL), ("post", TELEGRAM),
                                   ("article", ARTICLE))}
        (folder / "shells.yml").write_text(CASE.format(**urls), encoding="utf-8")
        result = khronika("run", str(folder / "shells.yml"), "--archive", str(folder / "archive"))
    finally:
        site.close()
    return folder / "archive", result


def test_the_run_names_each_incomplete_capture_and_fails(run: tuple[Path, object]) -> None:
    archive, result = run
    assert result.code == 1, result.err
    lines = [line for line in result.err.splitlines() if line.startswith("incomplete:")]
    assert lines == [
        "incomplete: shells/shell: application shell: <noscript> asks for JavaScript ('You need to enable JavaScript "
        "to run this app.'); the page's text is rendered by JavaScript",
        "incomplete: shells/react: application shell: empty root element <div id=\"__next\"> and 2 script bundle(s); "
        "the page's text is rendered by JavaScript",
        f"incomplete: shells/post: main text is tiny against its markup: 25 characters of text in {len(TELEGRAM)} characters "
        "of HTML",
    ]
    assert "extraction failed: e5de24cdab59: no text extracted (interstitial page: 'You need to enable JavaScript to " \
        "run this app.\\nLoading…')" in result.err
    assert "4 new capture(s), 0 unchanged, 0 kept without fetching, 0 failed, 0 wanted, 3 incomplete." in result.err


def test_capture_and_attempt_rows_say_incomplete(run: tuple[Path, object]) -> None:
    archive, _ = run
    rows = query(archive / "archive.db", """SELECT c.source_id, c.incomplete IS NOT NULL, a.outcome, a.error = c.incomplete
        FROM captures c JOIN attempts a ON a.capture_id = c.id ORDER BY c.id""")
    assert rows == [("shells/shell", 1, "incomplete", 1), ("shells/react", 1, "incomplete", 1),
                    ("shells/post", 1, "incomplete", 1), ("shells/article", 0, "captured", None)]
    events = [r[0] for r in query(archive / "archive.db", "SELECT event FROM log WHERE event LIKE '%incomplete'")]
    assert events == ["capture_incomplete", "attempt_incomplete"] * 3


def test_a_quote_in_og_description_is_found_and_flagged(run: tuple[Path, object]) -> None:
    archive, _ = run
    rows = query(archive / "archive.db", "SELECT claim_id, match, found_in_metadata, exact FROM citations ORDER BY claim_id")
    assert rows == [
        ("shells/arrest", "exact", "og:description", "арестовал студента Гарри Азаряна на два месяца"),
        ("shells/extended", "exact", None, "The district court extended the student's arrest by two months"),
    ]
    assert query(archive / "archive.db", "SELECT id, status, status_reason FROM claims ORDER BY id") == [
        ("shells/arrest", "sourced", "all 1 supporting quote(s) present in archived captures; "
         "1 of them only in the page's metadata (og:description), not in its visible text"),
        ("shells/extended", "sourced", "all 1 supporting quote(s) present in archived captures"),
    ]
    # Only the quote in the page's text is judged for visibility; the metadata one carries its own flag.
    assert query(archive / "archive.db", "SELECT citation_id, state, reason FROM visibility") == [
        ("shells/extended#1", "visible", None)]


def test_verify_says_where_the_quote_was_found(run: tuple[Path, object]) -> None:
    archive, _ = run
    result = khronika("verify", "--archive", str(archive), "--json")
    quotes = {c["subject"]: c["detail"] for c in json.loads(result.out)["checks"] if c["check"] == "quote"}
    blake3 = dict(query(archive / "archive.db", "SELECT source_id, blake3 FROM captures"))
    start, end = query(archive / "archive.db", "SELECT start, \"end\" FROM citations WHERE claim_id = 'shells/arrest'")[0]
    assert quotes["citation shells/arrest#1"] == (f"quote present (exact) at [{start}, {end}) of capture "
                                                  f"{blake3['shells/post'][:16]}, only in the page's metadata (og:description)")


def test_claim_and_source_pages_show_the_flags(run: tuple[Path, object]) -> None:
    from test_web import make_datasette

    archive, _ = run
    ds = make_datasette(archive)
    claim = asyncio.run(ds.client.get("/-/claim/shells/arrest")).text
    assert ('<p class="flag metadata">Found in the page\'s metadata (og:description), not in the text the page '
            'shows: compare with the archived copy.</p>') in claim
    source = asyncio.run(ds.client.get("/-/source/shells/shell")).text
    assert ('<p class="incomplete">Incomplete capture: application shell: &lt;noscript&gt; asks for JavaScript') in source
    assert "<td>incomplete</td>" in source
    post = asyncio.run(ds.client.get("/-/source/shells/post")).text
    assert ('<a href="/-/claim/shells/arrest#citation-1">shells/arrest</a> (citation 1, exact, found in the '
            "page's metadata (og:description))</li>") in post
    db_parts = json.loads(query(archive / "archive.db", "SELECT e.metadata FROM extractions e JOIN captures c "
                                "ON c.blake3 = e.blake3 WHERE c.source_id = 'shells/post'")[0][0])["parts"]
    assert [p["label"] for p in db_parts] == ["og:description"]


DEEP_INTRO = "<p>" + "The court met in the morning and heard the case of the defendant. " * 5 + "</p>"
DEEP_QUOTE = "The judge ordered two months in custody for the accused student."


def _deep(levels: int) -> str:
    return (f"<html><head><meta charset='utf-8'><title>Deep</title></head><body><article>{DEEP_INTRO}"
            + "<div>" * levels + f"<p>{DEEP_QUOTE}</p>" + "</div>" * levels + "</article></body></html>")


@pytest.mark.parametrize("levels, reason", [
    (250, None),
    (260, "markup nested deeper than 255 levels: the HTML parser drops what lies below, 65 characters of the page's "
          "text are not in the extraction"),
    (5000, "markup nested deeper than 255 levels: the HTML parser drops what lies below (and past 2047, where every "
           "parse here stops); how much of the page's text is lost is not known"),
])
def test_text_nested_past_the_parsers_depth_limit_makes_the_extraction_incomplete(levels: int, reason: str | None) -> None:
    e = extract(_deep(levels).encode(), "text/html")
    assert (DEEP_QUOTE in (e.text or "")) is (reason is None)
    assert e.metadata.get("incomplete") == reason


def test_a_quote_nested_past_the_depth_limit_is_not_found_in_an_incomplete_capture(tmp_path: Path) -> None:
    site = Site()
    try:
        url = site.set("/deep", _deep(300).encode(), Content_Type="text/html; charset=utf-8")
        (tmp_path / "deep.yml").write_text(f"""case:
  id: deep
  title: A page nested past the parser's limit
sources:
  - id: page
    url: {url}
claims:
  - id: custody
    text: Two months in custody
    citations:
      - source: page
        quote: "{DEEP_QUOTE}"
        stance: supports
""", encoding="utf-8")
        result = khronika("run", str(tmp_path / "deep.yml"), "--archive", str(tmp_path / "archive"))
    finally:
        site.close()
    assert result.code == 1, result.err
    assert [line for line in result.err.splitlines() if line.startswith("incomplete:")] == [
        "incomplete: deep/page: markup nested deeper than 255 levels: the HTML parser drops what lies below, "
        "65 characters of the page's text are not in the extraction"]
    assert query(tmp_path / "archive" / "archive.db", "SELECT status FROM claims") != [("sourced",)]
    assert query(tmp_path / "archive" / "archive.db", "SELECT match FROM citations") == [("not_found",)]
    from test_web import make_datasette

    claim = asyncio.run(make_datasette(tmp_path / "archive").client.get("/-/claim/deep/custody")).text
    assert ('<p class="problem incomplete">That copy is incomplete, so the words may be in the source all the same: '
            "markup nested deeper than 255 levels: the HTML parser drops what lies below, 65 characters of the page&#39;s "
            "text are not in the extraction</p>") in claim
