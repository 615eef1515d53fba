"""Narratives that run backwards, in English and Russian, with years resolved from the source's context."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import Site, khronika

from ingest.checks.narrative import Backwards, Event, backwards

PUB = "the source's publication date"


def ev(day: str, written: str, passage: str, note: str | None = None) -> Event:
    return Event(dt.date.fromisoformat(day), written, passage, note)


CASES = [
    ("On 16 May 2025 the court arrested him. Several weeks later, on 21 April, he was released.",
     [Backwards("Several weeks later",
                ev("2025-05-16", "16 May 2025", "On 16 May 2025 the court arrested him."),
                ev("2025-04-21", "21 April", "Several weeks later, on 21 April, he was released.",
                   'year 2025 taken from "16 May 2025" earlier in the text'))]),
    ("16 мая 2025 г. суд арестовал его. Спустя месяц, 12 апреля, его отпустили.",
     [Backwards("Спустя",
                ev("2025-05-16", "16 мая 2025 г.", "16 мая 2025 г. суд арестовал его."),
                ev("2025-04-12", "12 апреля", "Спустя месяц, 12 апреля, его отпустили.",
                   'year 2025 taken from "16 мая 2025 г." earlier in the text'))]),
    ("Его задержали 20 марта. Через две недели, 1 марта, суд продлил арест.",
     [Backwards("Через две недели",
                ev("2025-03-20", "20 марта", "Его задержали 20 марта.", f"year 2025 taken from {PUB}"),
                ev("2025-03-01", "1 марта", "Через две недели, 1 марта, суд продлил арест.", f"year 2025 taken from {PUB}"))]),
    ("Обыск прошёл 10.04.2025. Затем, 02.04.2025, его допросили.",
     [Backwards("Затем", ev("2025-04-10", "10.04.2025", "Обыск прошёл 10.04.2025."),
                ev("2025-04-02", "02.04.2025", "Затем, 02.04.2025, его допросили."))]),
    ("On 3 March police came. Then on 5 March they left. Later, on 4 March, they returned.",
     [Backwards("Later", ev("2025-03-05", "5 March", "Then on 5 March they left.", f"year 2025 taken from {PUB}"),
                ev("2025-03-04", "4 March", "Later, on 4 March, they returned.", f"year 2025 taken from {PUB}"))]),
    # In order, or a date that points back ("since then"), or a year that runs on: nothing to report.
    ("On 3 March police came. Later, on 5 March, they left. Позже, 7 марта, они вернулись.", []),
    ("He was searched on 3 March. He had been held since then, on 1 March.", []),
    ("He was searched on 3 March. Before that, on 1 March, he was warned.", []),
    ("On 28 December 2024 he was detained. Two weeks later, on 10 January, he was released.", []),
    # No cue: a text may go back in time on purpose ("He had been warned on 1 March").
    ("He was searched on 3 March. On 1 March he had been warned.", []),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_sequence_cues_dated_before_the_event_before_them(text: str, expected: list[Backwards]) -> None:
    assert backwards(text, 2025, PUB) == expected


def test_the_year_runs_on_after_a_cue_and_the_inference_is_recorded() -> None:
    text = "On 28 December 2024 he was detained. Two weeks later, on 10 January, he was released. Then, on 2 January, he was fined."
    assert backwards(text, None, "") == [Backwards(
        "Then", ev("2025-01-10", "10 January", "Two weeks later, on 10 January, he was released.",
                   "year 2025 inferred: the first 10 January after 2024-12-28"),
        ev("2025-01-02", "2 January", "Then, on 2 January, he was fined.",
           'year 2025 taken from "10 January" read as 2025-01-10 earlier in the text'))]
    # With no year anywhere, dates are not placed in time and nothing is claimed.
    assert backwards("On 16 May the court arrested him. Later, on 21 April, he was released.", None, "") == []


STORY = ("On 16 May 2025 the Krasnogvardeysky court arrested the student. "
         "Several weeks later, on 21 April, he was released on bail.\n")


def test_lint_and_verify_report_a_backwards_narrative_with_both_passages(tmp_path: Path, site: Site) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "story.txt").write_text(STORY, encoding="utf-8")
    page = site.set("/ru", ("<html><head><meta charset=utf-8><title>Суд</title></head><body><article>"
                            "<p>Его задержали 20 марта 2025 года и доставили в отдел полиции на Васильевском острове.</p>"
                            "<p>Через две недели, 1 марта, суд продлил арест ещё на два месяца.</p>"
                            "</article></body></html>").encode(), Content_Type="text/html; charset=utf-8")
    case = tmp_path / "c.yml"
    case.write_text(f"""case:
  id: c
  title: C
sources:
  - id: story
    path: docs/story.txt
    published: "2025-06-01"
  - id: ru
    url: {page}
claims:
  - id: released
    text: He was released on bail.
    citations:
      - source: story
        quote: "he was released on bail"
        stance: supports
      - source: ru
        quote: "суд продлил арест"
        stance: mentions
""", encoding="utf-8")
    story = ('warning consistency narrative-backwards source story: "Several weeks later, on 21 April, he was released '
             'on bail." says "Several weeks later" but dates it "21 April" (2025-04-21; year 2025 taken from "16 May 2025" '
             'earlier in the text), before the event given just before it, "On 16 May 2025 the Krasnogvardeysky court '
             'arrested the student." "16 May 2025" (2025-05-16): the order or a date is wrong')
    lint = khronika("lint", str(case))
    assert (lint.code, lint.out.splitlines()) == (3, [
        story,
        "lint could not read the text of 1 source(s), so their narrative was not checked: ru (a URL); verify checks "
        "the archived texts after a run",
        f"{case}: 1 consistency warning(s); nothing was changed."]), lint.out + lint.err
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    result = khronika("verify", "--archive", str(archive), "--json")
    warnings = [w for w in json.loads(result.out)["warnings"] if w["rule"] == "narrative-backwards"]
    assert [w["subject"] for w in warnings] == ["source story", "source ru"]
    assert warnings[1]["detail"] == (
        '"Через две недели, 1 марта, суд продлил арест ещё на два месяца." says "Через две недели" but dates it "1 марта" '
        '(2025-03-01; year 2025 taken from "20 марта 2025 года" earlier in the text), before the event given just before '
        'it, "Его задержали 20 марта 2025 года и доставили в отдел полиции на Васильевском острове." "20 марта 2025 года" '
        "(2025-03-20): the order or a date is wrong")
    # verify keeps the findings, and the case page lists them, each linked to its claim or source.
    from conftest import query

    assert query(archive / "archive.db", "SELECT id, rule, kind, ref, subject FROM consistency_findings ORDER BY n") == [
        ("c#1", "narrative-backwards", "source", "c/story", "source story"),
        ("c#2", "narrative-backwards", "source", "c/ru", "source ru")]
    import asyncio
    import re

    from test_web import make_datasette

    html = asyncio.run(make_datasette(archive).client.get("/-/timeline/c")).text
    section = html[html.index('<h2 id="consistency">'):]
    assert re.findall(r'<li class="finding ([a-z-]+)"><span class="rule">[a-z-]+</span> <a href="([^"]+)">([^<]+)</a>',
                      section) == [("narrative-backwards", "/-/source/c/story", "source story"),
                                   ("narrative-backwards", "/-/source/c/ru", "source ru")]


def test_case_page_says_when_consistency_was_never_checked(tmp_path: Path) -> None:
    import asyncio

    from test_web import make_datasette

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "story.txt").write_text(STORY, encoding="utf-8")
    case = tmp_path / "c.yml"
    case.write_text("case:\n  id: c\n  title: C\nsources:\n  - id: story\n    path: docs/story.txt\n",
                    encoding="utf-8")
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    html = asyncio.run(make_datasette(archive).client.get("/-/timeline/c")).text
    assert '<p class="meta">Not checked yet: run <code>python -m ingest verify</code>.</p>' in html


def test_lint_names_a_local_document_it_does_not_read(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "scan.pdf").write_bytes(b"%PDF-1.4 not read by lint")
    case = tmp_path / "c.yml"
    case.write_text("case:\n  id: c\n  title: C\nsources:\n  - id: scan\n    path: docs/scan.pdf\n", encoding="utf-8")
    lint = khronika("lint", str(case))
    assert (lint.code, lint.out.splitlines()) == (3, [
        "warning consistency uncited-source source scan: source cited by no claim",
        "lint could not read the text of 1 source(s), so their narrative was not checked: scan (not a .txt or .md "
        "document); verify checks the archived texts after a run",
        f"{case}: 1 consistency warning(s); nothing was changed."]), lint.out + lint.err
