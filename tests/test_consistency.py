"""Consistency checks: exact warnings from `lint` on a case file and from `verify` on an archive."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from conftest import khronika, query

from ingest.checks.consistency import QuoteDate, dates_in, jaccard

DECREE = "Приказ от 31.02.2025. 13 марта 2025 г. суд оштрафовал музыканта. Решение от 16.05.2025 вступило в силу.\n"
NOTE = "On March 13 the court fined him. On March 12 he was detained. Searches followed on 16 May 2025.\n"


def write_case(folder: Path, claims: str, sources: str = "") -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "decree.txt").write_text(DECREE, encoding="utf-8")
    (folder / "docs" / "note.txt").write_text(NOTE, encoding="utf-8")
    case = folder / "c.yml"
    case.write_text(f"""case:
  id: c
  title: C
sources:
  - id: decree
    path: docs/decree.txt
    published: "2025-04-01"
  - id: note
    path: docs/note.txt
    published_after: "2025-01-01"
{sources}claims:
{claims}""", encoding="utf-8")
    return case


CLAIMS = """  - id: searches
    text: Searches took place on 16 May.
    date: "2025-05-16"
    date_note: "as stated"
    citations:
      - source: decree
        quote: "Решение от 16.05.2025 вступило в силу"
        stance: supports
      - source: note
        quote: "Searches followed on 16 May 2025"
        stance: supports
  - id: fine-ru
    text: The court fined the musician on 14 March 2025.
    date: "2025-03-14"
    date_note: "as stated"
    citations:
      - source: decree
        quote: "13 марта 2025 г. суд оштрафовал музыканта"
        stance: supports
  - id: fine-en
    text: The court fined him on 13 March.
    date: "2024-03-13"
    date_note: "inferred"
    citations:
      - source: note
        quote: "On March 13 the court fined him. On March 12 he was detained."
        stance: supports
  - id: fine-en-again
    text: The court fined him on 13 March!
    citations:
      - source: note
        quote: "On March 13 the court fined him"
        stance: mentions
  - id: impossible
    text: An order dated on a day that does not exist.
    citations:
      - source: decree
        quote: "Приказ от 31.02.2025"
        stance: mentions
"""
EXTRA_SOURCES = """  - id: unused
    path: docs/note.txt
  - id: hoped-for
    wanted: true
"""


def test_dates_written_in_quotes_english_and_russian() -> None:
    assert dates_in("13 марта 2025 г. суд; до 16.05.2025; 5 мая", 2025, "the claim's date") == [
        QuoteDate("13 марта 2025 г.", dt.date(2025, 3, 13), None),
        QuoteDate("16.05.2025", dt.date(2025, 5, 16), None),
        QuoteDate("5 мая", dt.date(2025, 5, 5), "year 2025 taken from the claim's date"),
    ]
    assert dates_in("On March 13, then 16 May 2025, and April 21, 2025.", 2024, "x") == [
        QuoteDate("March 13", dt.date(2024, 3, 13), "year 2024 taken from x"),
        QuoteDate("16 May 2025", dt.date(2025, 5, 16), None),
        QuoteDate("April 21, 2025", dt.date(2025, 4, 21), None),
    ]
    # No year anywhere: not compared (no guessed year); no day: not a day-precise date.
    assert dates_in("on March 13", None, "") == []
    assert dates_in("в мае 2025 года, in May", 2025, "x") == []
    assert dates_in("до 31.02.2025 и 32 марта", 2025, "x") == [
        QuoteDate("31.02.2025", None, None), QuoteDate("32 марта", None, "year 2025 taken from x")]


def test_lint_reports_each_rule_exactly(tmp_path: Path) -> None:
    case = write_case(tmp_path, CLAIMS, EXTRA_SOURCES)
    result = khronika("lint", str(case))
    assert result.code == 3, result.err
    assert result.out.splitlines() == [
        "warning consistency claim-after-source claim searches: dated 2025-05-16 but source decree was "
        "published 2025-04-01: a source cannot report what had not happened yet",
        "warning consistency quote-date claim fine-ru: quote from decree writes \"13 марта 2025 г.\" (2025-03-13), "
        "which differs from the claim's date 2025-03-14",
        'warning consistency as-stated-unquoted claim fine-ru: date_note is "as stated" but none of its 1 quote(s) '
        "states 2025-03-14",
        "warning consistency quote-date claim fine-en: quote from note writes \"March 12\" (2024-03-12; year 2024 "
        "taken from the claim's date), which differs from the claim's date 2024-03-13",
        'warning consistency quote-date-unreadable claim impossible: quote from decree writes "31.02.2025", which '
        "reads like a date but names no such day: not compared, check it by hand",
        "warning consistency duplicate-claims claim fine-en: text nearly identical to claim fine-en-again "
        "(token overlap 1.00)",
        "warning consistency uncited-source source unused: source cited by no claim",
        "warning consistency wanted-unused source hoped-for: wanted source that no claim cites or depends on",
        f"{case}: 8 consistency warning(s); nothing was changed.",
    ]


def test_lint_clean_case_exits_0_and_invalid_case_exits_2(tmp_path: Path) -> None:
    clean = write_case(tmp_path / "a", """  - id: fine
    text: The court fined him.
    date: "2025-03-13"
    date_note: "as stated"
    citations:
      - source: decree
        quote: "13 марта 2025 г. суд оштрафовал музыканта"
        stance: supports
      - source: note
        quote: "On March 13 the court fined him"
        stance: supports
""")
    result = khronika("lint", str(clean))
    assert (result.code, result.out) == (0, f"{clean}: 0 consistency warning(s); nothing was changed.\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("case:\n  id: x\n", encoding="utf-8")
    assert khronika("lint", str(bad)).code == 2


def test_jaccard_over_normalised_tokens() -> None:
    assert jaccard("The court fined HIM.", "the court, fined him") == 1.0
    assert jaccard("a b c d", "a b c e") == 0.6


def test_verify_shows_warnings_without_changing_the_exit_code(tmp_path: Path) -> None:
    case = write_case(tmp_path / "case", """  - id: future
    text: Something that happens next year.
    date: "2099-01-01"
    citations:
      - source: local
        quote: "On March 13 the court fined him"
        stance: supports
""", """  - id: local
    path: docs/note.txt
""")
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    captured = query(archive / "archive.db", "SELECT captured_at FROM captures WHERE source_id = 'c/local'")[0][0][:10]
    result = khronika("verify", "--archive", str(archive), "--json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["warnings"] == [
        {"check": "consistency", "rule": "claim-after-source", "subject": "claim future", "state": "warning",
         "detail": f"dated 2099-01-01 but source local was first captured {captured} (publication date unknown): "
                   "a source cannot report what had not happened yet"},
        {"check": "consistency", "rule": "quote-date", "subject": "claim future", "state": "warning",
         "detail": "quote from local writes \"March 13\" (2099-03-13; year 2099 taken from the claim's date), "
                   "which differs from the claim's date 2099-01-01"},
        {"check": "consistency", "rule": "uncited-source", "subject": "source decree", "state": "warning",
         "detail": "source cited by no claim"},
        {"check": "consistency", "rule": "uncited-source", "subject": "source note", "state": "warning",
         "detail": "source cited by no claim"},
    ]
    text = khronika("verify", "--archive", str(archive))
    assert text.code == 0
    assert [line for line in text.out.splitlines() if line.startswith("warning")] == [
        f"warning consistency claim-after-source claim future: dated 2099-01-01 but source local was first captured "
        f"{captured} (publication date unknown): a source cannot report what had not happened yet",
        "warning consistency quote-date claim future: quote from local writes \"March 13\" (2099-03-13; year 2099 "
        "taken from the claim's date), which differs from the claim's date 2099-01-01",
        "warning consistency uncited-source source decree: source cited by no claim",
        "warning consistency uncited-source source note: source cited by no claim",
    ]


PEOPLE_CASE = """case:
  id: p
  title: P
sources:
  - id: court
    path: docs/court.txt
claims:
  - id: arrest
    text: The court arrested Petrova.
    people: [petrova]
    citations:
      - source: court
        quote: Суд арестовал Гарри Азаряна и Анну Петрову
        stance: supports
  - id: lawyer
    text: The lawyer met both.
    people: [harry-azaryan, petrova]
    citations:
      - source: court
        quote: Адвокат встретился с Азаряном и Петровой
        stance: supports
people:
  - id: harry-azaryan
    name: Harry Azaryan
    aliases: [Гарри Азарян]
  - id: petrova
    name: Anna Petrova
    aliases: [Анна Петрова]
  - id: rubish
    name: Oleg Rubish
"""
COURT = "Суд арестовал Гарри Азаряна и Анну Петрову. Адвокат встретился с Азаряном и Петровой.\n"
UNLISTED = ('a quote names Harry Azaryan ("Гарри Азаряна"), who is not in the claim\'s people '
            "(a hint: a namesake reads the same)")


def test_a_quote_naming_a_known_person_the_claim_does_not_list_is_a_hint(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "court.txt").write_text(COURT, encoding="utf-8")
    case = tmp_path / "p.yml"
    case.write_text(PEOPLE_CASE, encoding="utf-8")
    result = khronika("lint", str(case))
    assert (result.code, result.out.splitlines()) == (3, [
        f"warning consistency person-unlisted claim arrest: {UNLISTED}",
        f"{case}: 1 consistency warning(s); nothing was changed.",
    ]), result.err
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    result = khronika("verify", "--archive", str(archive), "--json")
    assert result.code == 0, result.out
    assert json.loads(result.out)["warnings"] == [
        {"check": "consistency", "rule": "person-unlisted", "subject": "claim arrest", "state": "warning",
         "detail": UNLISTED}]
    # A hint only: the claim's people stay as the case file wrote them.
    assert query(archive / "archive.db", "SELECT people FROM claims WHERE slug = 'arrest'") == [('["petrova"]',)]
