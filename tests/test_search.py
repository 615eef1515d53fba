"""Search: Russian and English words found by their Snowball stems both ways, filters by case,
source kind and date, and Datasette's own table search folding and stemming alike."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from ingest.text.stems import index_form, search_stem

NORTH_DOC = "Суд продлил арест Поризковой на два месяца; её старость не учли. Police detained three students.\n"
SOUTH_DOC = "Письмо о старости. Поризкова и Ёлкина said the court detains people without charge.\n"

NORTH = """case:
  id: north
  title: North
sources:
  - id: report
    path: docs/report.txt
    kind: report
    published: 2019-11-19
claims:
  - id: arrest
    text: Суд продлил арест Поризковой.
    date: 2019-11-19
    citations:
      - source: report
        quote: Суд продлил арест Поризковой
        stance: supports
"""

SOUTH = """case:
  id: south
  title: South
sources:
  - id: letter
    path: docs/letter.txt
    kind: statement
    published: 2020-03-20
"""


def test_index_form_keeps_each_folded_word_and_its_stem() -> None:
    assert index_form("Ёлкина, старости; detained 2019 Δ") == "елкина елкин старости старост detained detain 2019 δ"
    assert [search_stem(w) for w in ("Поризковой", "Поризкова", "старость", "detains", "ЁЛКИНОЙ")] == [
        "поризков", "поризков", "старост", "detain", "елкин"]


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from test_web import make_datasette

    from ingest.claims.cases import load_case
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    folder = tmp_path_factory.mktemp("search")
    (folder / "docs").mkdir()
    (folder / "docs" / "report.txt").write_text(NORTH_DOC, encoding="utf-8")
    (folder / "docs" / "letter.txt").write_text(SOUTH_DOC, encoding="utf-8")
    (folder / "north.yml").write_text(NORTH, encoding="utf-8")
    (folder / "south.yml").write_text(SOUTH, encoding="utf-8")
    with Archive.open(folder / "archive", create=True) as archive:
        report = run([load_case(folder / "north.yml"), load_case(folder / "south.yml")], archive, RunOptions(offline=True))
    assert not report.failed
    return make_datasette(folder / "archive")


def found(ds: Any, query: str) -> tuple[list[str], list[str], str]:
    html = asyncio.run(ds.client.get(f"/-/search?{query}")).text
    docs = re.findall(r'<a href="/-/source/([a-z/-]+)">', html)
    claims = re.findall(r'<p><a href="/-/claim/([a-z/-]+)">', html)
    return docs, claims, html


@pytest.mark.parametrize(("q", "docs", "claims"), [
    ("Поризкова", ["south/letter", "north/report"], ["north/arrest"]),  # Поризковой by its stem
    ("Поризковой", ["south/letter", "north/report"], ["north/arrest"]),  # Поризкова by its stem
    ("старости", ["south/letter", "north/report"], []),  # старость
    ("старость", ["south/letter", "north/report"], []),  # старости
    ("detains", ["south/letter", "north/report"], []),
    ("detained", ["south/letter", "north/report"], []),
    ("ёлкиной", ["south/letter"], []),
    ("суд Поризкова", ["north/report"], ["north/arrest"]),  # every word must appear
    ("Поризк", ["south/letter", "north/report"], ["north/arrest"]),  # six letters or more: a prefix too
    ("witness", [], []),  # its stem "wit" is matched whole: "without" does not begin a match
    ("with", [], []),  # a word under six letters is no prefix: "without" does not begin with a match
])
def test_inflected_forms_find_each_other_both_ways(ds: Any, q: str, docs: list[str], claims: list[str]) -> None:
    assert found(ds, f"q={q}")[:2] == (docs, claims)


def test_the_snippet_marks_the_inflected_form(ds: Any) -> None:
    html = found(ds, "q=Поризкова")[2]
    assert "Суд продлил арест <mark>Поризковой</mark> на два месяца" in html
    assert "<mark>Поризкова</mark> и Ёлкина" in html


@pytest.mark.parametrize(("filters", "docs", "claims"), [
    ("case=north", ["north/report"], ["north/arrest"]),
    ("case=south", ["south/letter"], []),
    ("kind=statement", ["south/letter"], []),
    ("kind=report", ["north/report"], ["north/arrest"]),
    ("since=2020", ["south/letter"], []),
    ("since=2020-03-20", ["south/letter"], []),
    ("since=2020-03-21", [], []),
    ("until=2020-03", ["south/letter", "north/report"], ["north/arrest"]),  # through the end of March
    ("since=2019-11&until=2019-11", ["north/report"], ["north/arrest"]),
    ("until=2019-12", ["north/report"], ["north/arrest"]),
    ("since=2019-11-19&until=2019-11-19", ["north/report"], ["north/arrest"]),
    ("since=2021", [], []),
])
def test_filters_by_case_kind_and_date(ds: Any, filters: str, docs: list[str], claims: list[str]) -> None:
    assert found(ds, f"q=Поризкова&{filters}")[:2] == (docs, claims)


def test_a_bad_filter_is_named_and_left_out(ds: Any) -> None:
    docs, claims, html = found(ds, "q=Поризкова&since=2020-13&kind=blog&case=North")
    assert (docs, claims) == (["south/letter", "north/report"], ["north/arrest"])
    assert '<p class="problem">Filter left out: since: &#34;2020-13&#34; is not a date (YYYY-MM-DD, YYYY-MM or YYYY)</p>' in html
    assert ('<p class="problem">Filter left out: kind: &#34;blog&#34; is not one of: report, statement, court-document, '
            "social-post, other</p>") in html
    assert '<p class="problem">Filter left out: case: &#34;North&#34; is not a case id</p>' in html
    assert "Nothing found (case north, from 2021)." in found(ds, "q=Поризкова&case=north&since=2021")[2]


@pytest.mark.parametrize(("path", "ids"), [
    ("/archive/extractions.json?_search=ёлкина", [2]),
    ("/archive/extractions.json?_search=Елкиной", [2]),
    ("/archive/extractions.json?_search=Поризкова", [1, 2]),
    ("/archive/claims.json?_search=Поризкова", ["north/arrest"]),
])
def test_datasette_table_search_folds_and_stems_like_the_site(ds: Any, path: str, ids: list[Any]) -> None:
    rows = asyncio.run(ds.client.get(path + "&_shape=array&_col=id")).json()
    assert sorted(r["id"] for r in rows) == ids


def test_an_index_made_before_stems_is_made_again_on_opening(tmp_path: Path) -> None:
    from ingest.store.archive import Archive
    from ingest.store.db import open_db

    db = open_db(tmp_path / "archive.db")
    with db.conn:
        db.execute("INSERT INTO files (blake3, sha256, size, media_type, path, stored_at) VALUES ('b', 's', 1, 't', 'p', 't')")
        db.execute("INSERT INTO extractions (id, blake3, text) VALUES (1, 'b', 'арест Поризковой')")
        db.execute("INSERT INTO extractions_fts(extractions_fts) VALUES ('delete-all')")
        db.execute("INSERT INTO extractions_fts (rowid, title, text) VALUES (1, NULL, 'арест поризковой')")
        db.execute("DELETE FROM search_index")
    assert db.execute("SELECT rowid FROM extractions_fts WHERE extractions_fts MATCH 'поризков'").fetchall() == []
    db.close()
    with Archive.open(tmp_path) as archive:
        again = archive.db
        assert again.execute("SELECT rowid FROM extractions_fts WHERE extractions_fts MATCH 'поризков'").fetchall() == [(1,)]
        assert again.execute("SELECT name FROM search_index").fetchall() == [("extractions_fts",)]
