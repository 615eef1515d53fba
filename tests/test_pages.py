"""Pages a lawyer can read: the home page's state, the archived copy in a Khronika page, links to
the archived copy at the quote, citation from a selection, and a timeline that copes with one
date held by several claims and with an outlying date."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import io
import re
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from ingest.claims.fragments import context_words, text_directive
from ingest.site.timeline import Axis, segments, timeline_svg

DOC = ("The court in Saint Petersburg met on Monday. The court in Saint Petersburg met again on Friday, "
       "and the judge ordered the detention of Harry Azaryan for two months.\n")
PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>Court news</title>"
        "<script>document.title = 'script ran'; try { parent.document.title = 'script ran' } catch (e) {}</script>"
        "</head><body><article><h1>Court news</h1><p>The hearing of the case was closed to the press and "
        "the public, the court's spokesperson said on Tuesday evening.</p></article></body></html>")

CASE = """case:
  id: pages
  title: Pages
sources:
  - id: doc
    path: docs/doc.txt
    title: The court's week
    kind: report
  - id: news
    path: docs/news.html
    title: Court news
  - id: gone
    wanted: true
claims:
  - id: second-sitting
    text: The court met a second time.
    date: 2019-10-03
    type: hearing
    citations:
      - source: doc
        quote: The court in Saint Petersburg met
        prefix: "on Monday. "
        stance: supports
  - id: detention
    text: The judge ordered the detention.
    date: 2019-10-03
    type: hearing
    citations:
      - source: doc
        quote: the judge ordered the detention of Harry Azaryan
        stance: supports
  - id: released
    text: The judge released him.
    date: 2019-10-03
    type: hearing
    citations:
      - source: doc
        quote: the judge released Harry Azaryan
        stance: supports
  - id: closed
    text: The hearing was closed, and he was detained.
    date: 2025-05-16
    type: hearing
    citations:
      - source: news
        quote: The hearing of the case was closed to the press
        stance: supports
      - source: doc
        quote: he was detained in the courtroom
        stance: supports
"""


def build(folder: Path) -> Path:
    from ingest.checks.verify import verify
    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "doc.txt").write_text(DOC, encoding="utf-8")
    (folder / "docs" / "news.html").write_text(PAGE, encoding="utf-8")
    (folder / "pages.yml").write_text(CASE, encoding="utf-8")
    with Archive.open(folder / "archive", create=True) as archive:
        run([load_case(folder / "pages.yml")], archive, RunOptions(offline=True))
        verify(archive)
    return folder / "archive"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from test_web import make_datasette

    archive = build(tmp_path_factory.mktemp("pages"))
    return archive, make_datasette(archive)


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def one(archive: Path, sql: str) -> Any:
    import sqlite3

    with sqlite3.connect(archive / "archive.db") as conn:
        return conn.execute(sql).fetchone()


# -- the home page --------------------------------------------------------------------------------


def test_home_page_shows_each_case_state_the_last_verify_and_the_log_head(built: tuple[Path, Any]) -> None:
    archive, ds = built
    html = get(ds, "/").text
    assert ('<p class="case-state">4 claims: <span class="status status-sourced">2 sourced</span> · '
            '<span class="status status-partly_sourced">1 partly sourced</span> · '
            '<span class="status status-unsourced">1 unsourced</span> · '
            '<span class="status status-contested">0 contested</span> · <span class="drifting">0 drifting</span> '
            "(a live source changed or gone since the archived copy) · 1 wanted source(s)</p>") in html
    checked_at = one(archive, "SELECT checked_at FROM verify_runs")[0]
    assert (f'<dt>Last verified</dt><dd class="last-verify">{checked_at}: a mismatch or something missing (12 ok, '
            "0 mismatch, 2 missing, 0 unverifiable, 0 drift; exit code 1)"
            ' · <a href="/archive/latest_verify_results">every check</a></dd>') in html
    seq, head, time = one(archive, "SELECT seq, hash, time FROM log ORDER BY seq DESC LIMIT 1")
    assert (f'<dt>Log head</dt><dd class="log-head"><code class="hash">{seq}:{head}</code> ({time}) · '
            '<a href="/archive/log">the log</a></dd>') in html


# -- the archived copy at the quote ------------------------------------------------------------------


@pytest.mark.parametrize(("prefix", "suffix", "words"), [
    ("rg met on Monday. ", " again on Friday, and", ("met on Monday.", "again on Friday,")),
    ("Saint Petersburg met on Monday. ", " again on Friday", ("met on Monday.", "again on Friday")),
    ("urt in Saint Petersburg met on ", "again on Friday, and the judge ", ("Petersburg met on", "again on Friday,")),
    ("ourt news", "the end of the text of the page", ("news", "the end of")),
    ("Court news\n", " and the", ("Court news", "and the")),  # shorter than kept: the text's start and end
    (None, None, (None, None)),
])
def test_context_words_keep_whole_words_next_to_the_quote(prefix: str | None, suffix: str | None,
                                                          words: tuple[str | None, str | None]) -> None:
    assert context_words(prefix, suffix, kept=9 if prefix == "ourt news" else 32) == words



def test_text_directive_carries_prefix_and_suffix() -> None:
    assert text_directive("The court in Saint Petersburg met", "met on Monday.", "again on Friday,") == (
        ":~:text=met%20on%20Monday.-,The%20court%20in%20Saint%20Petersburg%20met,-again%20on%20Friday%2C")
    assert text_directive("  ") is None


def test_claim_page_links_the_archived_copy_at_this_occurrence_of_a_repeated_quote(built: tuple[Path, Any]) -> None:
    archive, ds = built
    b3 = one(archive, "SELECT blake3 FROM captures WHERE source_id = 'pages/doc'")[0]
    html = get(ds, "/-/claim/pages/second-sitting").text
    assert (f'<a class="archived-copy" href="/-/archive/{b3}">Archived copy</a> (text/plain) · '
            f'<a class="at-quote" href="/-/archive/{b3}#:~:text=met%20on%20Monday.-,The%20court%20in%20Saint%20'
            f'Petersburg%20met,-again%20on%20Friday%2C">at the quote</a> · '
            f'<a class="copy-page" href="/-/copy/{b3}?citation=pages/second-sitting%231">with its capture record</a>'
            ) in html
    html = get(ds, "/-/claim/pages/released").text  # not found: no link to a place that is not there
    assert 'class="at-quote"' not in html


def test_the_copy_page_says_what_the_copy_is_and_frames_it_sandboxed(built: tuple[Path, Any]) -> None:
    archive, ds = built
    b3, sha, size = one(archive, "SELECT f.blake3, f.sha256, f.size FROM files f JOIN captures c ON c.blake3 = f.blake3 "
                                 "WHERE c.source_id = 'pages/news'")
    cap_id, at, warc, offset, length = one(archive, "SELECT id, captured_at, warc_file, warc_offset, warc_length "
                                                    "FROM captures WHERE source_id = 'pages/news'")
    html = get(ds, f"/-/copy/{b3}?citation=pages/closed%231").text
    assert f'<p class="meta">Archived copy · text/html · {size} bytes</p>' in html
    assert "<h1>Court news</h1>" in html
    assert '<dt>Source</dt><dd><a href="/-/source/pages/news">Court news</a> (pages)</dd>' in html
    assert (f'<dt>Captured</dt><dd class="captured">{at} (version 1, local_file; this machine\'s clock)</dd>') in html
    assert (f'<dt>WARC record</dt><dd><a class="warc-record" href="/-/warc/{cap_id}">{warc} at byte {offset}</a> '
            f'({length} bytes)</dd>') in html
    assert f'<code class="hash blake3">{b3}</code>' in html and f'<code class="hash sha256">{sha}</code>' in html
    assert f'<li><a class="raw" href="/-/archive/{b3}">The raw bytes</a> (text/html)</li>' in html
    assert (f'<iframe class="archived" sandbox src="/-/archive/{b3}" title="The archived copy, sandboxed" '
            'referrerpolicy="no-referrer"></iframe>') in html
    assert "<mark>The hearing of the case was closed to the press</mark> and the public" in html
    assert (f'<a class="at-quote" href="/-/archive/{b3}#:~:text=Court%20news-,The%20hearing%20of%20the%20case'
            '%20was%20closed%20to%20the%20press,-and%20the%20public%2C">') in html
    assert "script ran" not in html  # the copy's own script is nowhere in the page: only in the sandboxed frame
    assert get(ds, f"/-/copy/{'0' * 64}").status_code == 404
    assert get(ds, "/-/copy/nothex").status_code == 404


def test_the_warc_record_is_served_byte_for_byte(built: tuple[Path, Any]) -> None:
    archive, ds = built
    cap_id, warc, offset, length = one(archive, "SELECT id, warc_file, warc_offset, warc_length FROM captures "
                                                "WHERE source_id = 'pages/doc'")
    r = get(ds, f"/-/warc/{cap_id}")
    assert r.status_code == 200
    with (archive / "warc" / warc).open("rb") as fh:
        fh.seek(offset)
        assert r.content == fh.read(length)
    assert r.headers["content-disposition"] == f'attachment; filename="{warc.removesuffix(".warc.gz")}-{offset}.warc.gz"'
    assert r.headers["content-type"] == "application/warc"
    assert [(rec.rec_type, rec.content_stream().read()) for rec in ArchiveIterator(io.BytesIO(r.content))] == [
        ("resource", DOC.encode())]
    assert gzip.decompress(r.content).startswith(b"WARC/1.1\r\n")
    assert get(ds, "/-/warc/999999").status_code == 404


# -- citation from a selection -----------------------------------------------------------------------


def test_the_text_page_offers_the_citation_script_only_there(built: tuple[Path, Any]) -> None:
    _, ds = built
    html = get(ds, "/-/source/pages/doc/text").text
    assert f'<pre id="source-text" class="source-text" data-cite="/-/cite/pages/doc">\n{DOC}</pre>' in html
    assert '<script src="/-/khronika-cite.js" defer></script>' in html
    script = get(ds, "/-/khronika-cite.js")
    assert script.headers["content-type"] == "application/javascript; charset=utf-8"
    assert "window.getSelection()" in script.text
    b3 = get(ds, "/archive/captures.json?source_id=pages/news&_shape=array").json()[0]["blake3"]
    assert get(ds, f"/-/archive/{b3}").headers["content-security-policy"].startswith("sandbox; default-src 'none';")


@pytest.mark.parametrize(("start", "end", "selected", "block", "note"), [
    (100, 148, "the judge ordered the detention of Harry Azaryan",
     '- source: doc\n  quote: "the judge ordered the detention of Harry Azaryan"\n'
     "  stance: mentions   # choose: supports | contradicts | mentions", "characters [100, 148) of extraction 1; "
     "anchored again: paste it under a claim's citations: and choose its stance"),
    # a repeated passage gets the prefix that tells it apart; a selection cut inside words is widened
    (62, 78, "t Petersburg met",
     '- source: doc\n  quote: "Saint Petersburg met"\n  prefix: "Monday. The court in"\n'
     "  stance: mentions   # choose: supports | contradicts | mentions", "characters [58, 78) of extraction 1; "
     "anchored again: paste it under a claim's citations: and choose its stance"),
    (3, 9, "something else", None,
     "the selection could not be placed in the archived text; use python -m ingest quote with its words"),
    (5, 5, "", None, "select between 1 and 5000 characters of the text"),
])
def test_the_citation_for_a_selection_is_anchored_again(built: tuple[Path, Any], start: int, end: int, selected: str,
                                                        block: str | None, note: str) -> None:
    _, ds = built
    from urllib.parse import quote

    data = get(ds, f"/-/cite/pages/doc?start={start}&end={end}&selected={quote(selected)}").json()
    assert (data["block"], data["note"]) == (block, note)


# -- the timeline -----------------------------------------------------------------------------------


def claim(i: int, date: str, kind: str = "hearing") -> dict[str, Any]:
    return {"id": f"t/c{i}", "date": date, "type": kind, "status": "sourced", "text": f"claim {i}", "drift": None,
            "drift_since": None}


def test_an_outlying_date_is_set_apart_by_a_break_not_squeezing_the_rest() -> None:
    dates = [dt.date(2019, 10, 3), dt.date(2019, 11, 19), dt.date(2019, 12, 1), dt.date(2025, 5, 16)]
    assert segments(dates) == [(dt.date(2019, 10, 1), dt.date(2020, 1, 1)), (dt.date(2025, 5, 1), dt.date(2025, 6, 1))]
    axis = Axis(segments(dates), 170, 870)
    assert [(d.isoformat(), round(x), label) for d, x, label in axis.ticks()] == [
        ("2019-10-01", 170, "Oct 2019"), ("2019-11-01", 335, "Nov 2019"), ("2019-12-01", 495, "Dec 2019"),
        ("2025-05-01", 705, "May 2025"), ("2025-06-01", 870, "Jun 2025")]  # 44 pixels of break between
    svg = timeline_svg([claim(i, d.isoformat()) for i, d in enumerate(dates)])
    assert svg.count('class="axis-break">≈<title>5.3 years without a dated claim are left out here</title></text>') == 1


def test_axis_labels_thin_out_to_stay_apart() -> None:
    dates = [dt.date(2015, 1, 10), dt.date(2016, 3, 1), dt.date(2017, 6, 1), dt.date(2018, 9, 1), dt.date(2019, 12, 1),
             dt.date(2020, 12, 1)]
    assert len(segments(dates)) == 1  # no gap long enough to leave out
    ticks = Axis(segments(dates), 170, 870).ticks()
    assert [label for _, _, label in ticks] == ["2015", "2016", "2017", "2018", "2019", "2020", "2021"]
    assert min(b[1] - a[1] for a, b in zip(ticks, ticks[1:])) >= 40  # a year label's width apart
    months = Axis(segments([dt.date(2019, 1, 5), dt.date(2019, 12, 5)]), 170, 870).ticks()
    # 13 months on 700 pixels: a "Mon YYYY" label every month would touch the next, so every other month
    assert [label for _, _, label in months] == ["Jan 2019", "Mar 2019", "May 2019", "Jul 2019", "Sep 2019", "Nov 2019",
                                                 "Jan 2020"]


def test_claims_on_one_date_are_stacked_not_drawn_over_each_other() -> None:
    svg = timeline_svg([claim(1, "2019-10-03"), claim(2, "2019-10-03"), claim(3, "2019-10-03"), claim(4, "2019-11-19")])
    marks = re.findall(r'data-claim="(t/c\d)"><title>[^<]*</title><circle cx="([\d.]+)" cy="([\d.]+)"', str(svg))
    assert [(c, y) for c, _, y in marks] == [("t/c1", "47.0"), ("t/c2", "63.0"), ("t/c3", "79.0"), ("t/c4", "47.0")]
    assert len({x for c, x, _ in marks if c != "t/c4"}) == 1
