"""People: the case file's people: section, every way of writing a name, and one page per person."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import query

from ingest.claims.cases import load_case
from ingest.claims.people import Person, Variant, case_forms, mentions, name_key, slug_for, variants
from ingest.errors import CaseFileErrors

AZARYAN = Person("harry-azaryan", "Harry Azaryan", 1, ("Гарри Азарян",), "student")

COURT = "Суд арестовал Гарри Азаряна на два месяца. Адвокат Азаряну не дозвонился.\n"
STATEMENT = "Harry Azaryan was placed in pre-trial detention. Azarian's lawyer was not allowed in.\n"

CASE_A = """# people, declared
case:
  id: case-a
  title: Case A
sources:
  - id: court
    path: docs/court.txt
claims:
  - id: arrest
    text: The court ordered Harry Azaryan held for two months.
    date: 2025-05-16
    people: [Гарри Азарян]
    citations:
      - source: court
        quote: Суд арестовал Гарри Азаряна
        stance: supports
  - id: lawyer
    text: The lawyer could not reach him.
    people: [harry-azaryan, Oleg Rubish]
    citations:
      - source: court
        quote: Адвокат Азаряну не дозвонился
        stance: supports
people:
  - id: harry-azaryan
    name: Harry Azaryan
    aliases: [Гарри Азарян]
    role: student, detained
  - id: oleg-rubish
    name: Oleg Rubish
"""

CASE_B = """case:
  id: case-b
  title: Case B
sources:
  - id: statement
    path: docs/statement.txt
people:
  - id: harry-azaryan
    name: Harry Azaryan
claims:
  - id: detention
    text: Harry Azaryan was placed in pre-trial detention.
    date: 2025-05-17
    people: [Harry Azaryan]
    citations:
      - source: statement
        quote: Harry Azaryan was placed in pre-trial detention
        stance: supports
"""

CASE_C = """case:
  id: case-c
  title: Case C, without a people section
sources:
  - id: statement
    path: docs/statement.txt
claims:
  - id: lawyer
    text: Azaryan's lawyer was kept out.
    people: [Harry Azaryan, Harry Smith]
    citations:
      - source: statement
        quote: lawyer was not allowed in
        stance: supports
"""


def test_variants_of_a_person_in_two_scripts() -> None:
    assert variants(AZARYAN) == (
        Variant("Harry Azaryan", "harry azaryan", "name", True),
        Variant("Гарри Азарян", "гарри азарян", "alias", True),
        Variant("Гарри Азаряна", "гарри азаряна", "gent, accs", True),
        Variant("Гарри Азаряну", "гарри азаряну", "datv", True),
        Variant("Гарри Азаряном", "гарри азаряном", "ablt", True),
        Variant("Гарри Азаряне", "гарри азаряне", "loct", True),
        Variant("Garri Azarian", "garri azarian", "passport", True),
        Variant("Garri Azaryan", "garri azaryan", "passport-2010, bgn-pcgn, wikipedia", True),
        Variant("Harry", "harry", "name", False),
        Variant("Azaryan", "azaryan", "name, passport-2010, bgn-pcgn, wikipedia", False),
        Variant("Гарри", "гарри", "alias", False),
        Variant("Garri", "garri", "passport, passport-2010, bgn-pcgn, wikipedia", False),
        Variant("Азарян", "азарян", "alias", False),
        Variant("Азаряна", "азаряна", "gent, accs", False),
        Variant("Азаряну", "азаряну", "datv", False),
        Variant("Азаряном", "азаряном", "ablt", False),
        Variant("Азаряне", "азаряне", "loct", False),
        Variant("Azarian", "azarian", "passport", False),
    )


@pytest.mark.parametrize(("word", "forms"), [
    ("Поризкова", {"gent": "Поризковой", "datv": "Поризковой", "accs": "Поризкову", "ablt": "Поризковой",
                   "loct": "Поризковой"}),
    ("Алексей", {"gent": "Алексея", "datv": "Алексею", "accs": "Алексея", "ablt": "Алексеем", "loct": "Алексее"}),
    ("Пронько", {}),  # does not decline
    ("Petrov", {}),
])
def test_russian_case_forms_of_a_name(word: str, forms: dict[str, str]) -> None:
    assert case_forms(word) == forms


@pytest.mark.parametrize(("name", "slug", "key"), [
    ("Алексей Петров", "aleksey-petrov", "алексей петров"),
    ("Ёлкина  Юлия", "yolkina-yuliya", "елкина юлия"),
    ("Harry AZARYAN", "harry-azaryan", "harry azaryan"),
    ("עברית", "person", "עברית"),
])
def test_slug_and_key_of_a_name(name: str, slug: str, key: str) -> None:
    assert (slug_for(name), name_key(name)) == (slug, key)


def test_mentions_find_inflected_and_transliterated_names_with_their_offsets() -> None:
    text = "Суд арестовал Гарри Азаряна. Azarian's lawyer, and Ёлкина."
    found = [(m.person.id, text[m.start:m.end], m.variant.how, m.variant.whole) for m in mentions(text, [AZARYAN])]
    assert found == [("harry-azaryan", "Гарри Азаряна", "gent, accs", True),
                     ("harry-azaryan", "Azarian", "passport", False)]
    assert [text[m.start:m.end] for m in mentions(text, [AZARYAN], whole_only=True)] == ["Гарри Азаряна"]


def write_case(folder: Path, name: str, text: str) -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "court.txt").write_text(COURT, encoding="utf-8")
    (folder / "docs" / "statement.txt").write_text(STATEMENT, encoding="utf-8")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(CaseFileErrors) as info:
        load_case(write_case(tmp_path, "case.yml", text), "case.yml")
    return [str(e) for e in info.value.errors]


UNKNOWN = "write a person's id, name or alias from people:, or add them there"


@pytest.mark.parametrize(("change", "expected"), [
    (("people: [Гарри Азарян]", "people: [Garri Azaryan]"),
     ['case.yml:12: claims.0.people.0: unknown person "Garri Azaryan" (known: harry-azaryan, oleg-rubish); ' + UNKNOWN]),
    (("    name: Oleg Rubish\n", "    name: Oleg Rubish\n    aliases: [Гарри Азарян]\n"),
     ['case.yml:12: claims.0.people.0: "Гарри Азарян" names more than one person (harry-azaryan, oleg-rubish); '
      "write the person's id"]),
    (("  - id: oleg-rubish\n", "  - id: harry-azaryan\n"),
     ['case.yml:29: people.1.id: duplicate person id "harry-azaryan" (first on line 25)']),
    (("    aliases: [Гарри Азарян]\n", "    aliases: Гарри Азарян\n"),
     ['case.yml:12: claims.0.people.0: unknown person "Гарри Азарян" (known: harry-azaryan, oleg-rubish); ' + UNKNOWN,
      "case.yml:27: people.0.aliases: expected a list of names"]),
    (("    aliases: [Гарри Азарян]\n", "    aliases: [Гарри Азарян, '']\n"),
     ["case.yml:27: people.0.aliases.1: expected a name"]),
    (("    role: student, detained\n", "    role: student\n    born: 2003\n"),
     ['case.yml:29: people.0.born: unknown key "born" (allowed: id, name, aliases, role)']),
    (("  - id: oleg-rubish\n    name: Oleg Rubish\n", "  - id: Oleg\n"),
     ['case.yml:19: claims.1.people.1: unknown person "Oleg Rubish" (known: harry-azaryan); ' + UNKNOWN,
      "case.yml:29: people.1.name: required key is missing",
      'case.yml:29: people.1.id: "Oleg" is not a slug (lower-case letters, digits and -)']),
    # Not a list: the claims' names are not checked against it (no error for each of them).
    (("people:\n  - id: harry-azaryan", "people: nobody\nx:\n  - id: harry-azaryan"),
     ["case.yml:24: people: expected a list of people (each with id and name)",
      'case.yml:26: x: unknown key "x" (allowed: case, sources, people, claims)']),
])
def test_people_errors_name_the_line_and_key(tmp_path: Path, change: tuple[str, str], expected: list[str]) -> None:
    old, new = change
    assert old in CASE_A
    assert errors_of(tmp_path, CASE_A.replace(old, new)) == expected


def build(folder: Path) -> Path:
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    cases = [load_case(write_case(folder, f"{n}.yml", text)) for n, text in (("a", CASE_A), ("b", CASE_B), ("c", CASE_C))]
    with Archive.open(folder / "archive", create=True) as archive:
        report = run(cases, archive, RunOptions(offline=True))
    assert not report.failed
    return folder / "archive"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from test_web import make_datasette

    archive = build(tmp_path_factory.mktemp("people"))
    return archive, make_datasette(archive)


def get(ds: Any, path: str) -> Any:
    return asyncio.run(ds.client.get(path))


def test_people_are_recorded_through_the_log_with_the_tools_that_made_their_variants(built: tuple[Path, Any]) -> None:
    from ingest.claims.people import tools

    archive, _ = built
    db = archive / "archive.db"
    assert query(db, "SELECT id, case_id, slug, name, aliases, role, declared, names FROM people ORDER BY id") == [
        ("case-a/harry-azaryan", "case-a", "harry-azaryan", "Harry Azaryan", '["Гарри Азарян"]', "student, detained", 1,
         '["harry-azaryan", "Harry Azaryan", "Гарри Азарян"]'),
        ("case-a/oleg-rubish", "case-a", "oleg-rubish", "Oleg Rubish", "[]", None, 1, '["oleg-rubish", "Oleg Rubish"]'),
        ("case-b/harry-azaryan", "case-b", "harry-azaryan", "Harry Azaryan", "[]", None, 1,
         '["harry-azaryan", "Harry Azaryan"]'),
        ("case-c/harry-azaryan", "case-c", "harry-azaryan", "Harry Azaryan", "[]", None, 0, '["Harry Azaryan"]'),
        ("case-c/harry-smith", "case-c", "harry-smith", "Harry Smith", "[]", None, 0, '["Harry Smith"]'),
    ]
    logged = json.loads(query(db, "SELECT entry FROM log WHERE table_name = 'people' AND key = 'case-a/oleg-rubish'")[0][0])
    assert (logged["event"], logged["row"]) == ("person_recorded", {
        "id": "case-a/oleg-rubish", "case_id": "case-a", "slug": "oleg-rubish", "name": "Oleg Rubish", "aliases": "[]",
        "role": None, "declared": 1, "names": '["oleg-rubish", "Oleg Rubish"]', "recorded_at": logged["row"]["recorded_at"]})
    # The ways of writing each name are made in the published copy, with the libraries' versions.
    assert query(db, "SELECT count(*) FROM person_variants") == [(0,)]
    published = archive / "published" / "archive.db"
    assert tools().startswith("iuliia 0.") and ", pymorphy3 2." in tools()
    assert query(published, "SELECT text, how, whole, tool FROM person_variants WHERE person_id = 'case-a/harry-azaryan' "
                            "ORDER BY rowid LIMIT 3") == [
        ("Harry Azaryan", "name", 1, tools()), ("Гарри Азарян", "alias", 1, tools()),
        ("Гарри Азаряна", "gent, accs", 1, tools())]
    # 18 for the name in two scripts; a Latin name alone has itself and its two words
    assert query(published, "SELECT count(*) FROM person_variants") == [(18 + 3 + 3 + 3 + 3,)]
    from ingest.evidence.rows import case_rows
    from ingest.store.db import open_db

    exported = case_rows(open_db(db), "case-a").tables["people"]
    assert [p["id"] for p in exported] == ["case-a/harry-azaryan", "case-a/oleg-rubish"]  # an evidence package holds them
    assert query(db, "SELECT claim_id, written, person_id FROM claim_persons ORDER BY claim_id, written") == [
        ("case-a/arrest", "Гарри Азарян", "case-a/harry-azaryan"),
        ("case-a/lawyer", "Oleg Rubish", "case-a/oleg-rubish"),
        ("case-a/lawyer", "harry-azaryan", "case-a/harry-azaryan"),
        ("case-b/detention", "Harry Azaryan", "case-b/harry-azaryan"),
        ("case-c/lawyer", "Harry Azaryan", "case-c/harry-azaryan"),
        ("case-c/lawyer", "Harry Smith", "case-c/harry-smith"),
    ]


def test_a_person_dropped_from_the_case_file_is_removed_and_the_log_keeps_them(tmp_path: Path) -> None:
    from ingest.checks.verify import verify
    from ingest.pipeline import RunOptions, run
    from ingest.store.archive import Archive

    archive_dir = build(tmp_path)
    changed = CASE_A.replace("  - id: oleg-rubish\n    name: Oleg Rubish\n", "").replace(", Oleg Rubish]", "]")
    with Archive.open(archive_dir) as archive:
        run([load_case(write_case(tmp_path, "a.yml", changed))], archive, RunOptions(offline=True))
    db = archive_dir / "archive.db"
    assert query(db, "SELECT id FROM people WHERE case_id = 'case-a'") == [("case-a/harry-azaryan",)]
    assert query(db, "SELECT event FROM log WHERE table_name = 'people' AND key = 'case-a/oleg-rubish' ORDER BY seq") == [
        ("person_recorded",), ("person_removed",)]
    with Archive.open(archive_dir) as archive:
        report = verify(archive)
    rows = [(c.subject, c.state) for c in report.checks if c.check == "log" and c.subject == "database rows"]
    assert rows == [("database rows", "ok")]


@pytest.mark.parametrize("written", ["Азарян", "Azaryan", "Azarian", "Азаряна", "Гарри Азаряну", "harry  AZARYAN",
                                     "harry-azaryan"])
def test_every_way_of_writing_the_name_reaches_one_person_page(built: tuple[Path, Any], written: str) -> None:
    from urllib.parse import quote, urlencode

    _, ds = built
    response = get(ds, f"/-/people?name={quote(written)}")
    assert response.status_code == 302
    assert response.headers["location"] == "/-/person/harry-azaryan?" + urlencode({"name": written})


def test_the_person_page_lists_their_claims_across_cases(built: tuple[Path, Any]) -> None:
    _, ds = built
    html = get(ds, "/-/person/harry-azaryan?name=%D0%90%D0%B7%D0%B0%D1%80%D1%8F%D0%BD%D0%B0").text
    assert "<h1>Harry Azaryan</h1>" in html
    assert '<p class="meta found-as">Found as &#34;Азаряна&#34;: Азаряна (gent, accs, in case-a).</p>' in html
    assert html.count('<dl class="facts person-entry">') == 3
    assert "<dt>Also written</dt><dd>Гарри Азарян</dd>" in html and "<dt>Role</dt><dd>student, detained</dd>" in html
    assert "(named in the case's claims; the case file has no people: section)" in html
    claims = [line for line in html.splitlines() if line.startswith("<tr><td>") and "/-/claim/" in line]
    assert [c.split('href="')[1].split('"')[0] for c in claims] == [
        "/-/claim/case-a/arrest", "/-/claim/case-b/detention", "/-/claim/case-a/lawyer", "/-/claim/case-c/lawyer"]
    assert "<h2>Claims (4)</h2>" in html
    assert "<li>Garri Azarian <span class=\"meta\">(passport)</span></li>" in html


def test_a_name_of_two_people_lists_both_and_an_unknown_name_says_so(built: tuple[Path, Any]) -> None:
    _, ds = built
    html = get(ds, "/-/people?name=Harry").text
    assert '<li><a href="/-/person/harry-azaryan">Harry Azaryan</a> <span class="meta">(Harry (name, in case-a); ' \
           'Harry (name, in case-b); Harry (name, in case-c))</span></li>' in html
    assert '<li><a href="/-/person/harry-smith">Harry Smith</a> <span class="meta">(Harry (name, in case-c))</span></li>' in html
    html = get(ds, "/-/people?name=Petrov").text
    assert "No person in this archive is written &#34;Petrov&#34; (in any transliteration or case form)." in html
    html = get(ds, "/-/people").text
    assert '<tr><td><a href="/-/person/harry-azaryan">Harry Azaryan</a></td><td>case-a,case-b,case-c</td><td>4</td></tr>' in html
    assert get(ds, "/-/person/nobody").status_code == 404


def test_claims_about_person_finds_any_variant(built: tuple[Path, Any]) -> None:
    _, ds = built
    for written in ("Азаряна", "Azarian", "Harry Azaryan"):
        rows = get(ds, f"/archive/claims_about_person.json?person={written}&_shape=array").json()
        assert [(r["id"], r["named_as"], r["person"]) for r in rows] == [
            ("case-a/arrest", "Гарри Азарян", "harry-azaryan"), ("case-b/detention", "Harry Azaryan", "harry-azaryan"),
            ("case-a/lawyer", "harry-azaryan", "harry-azaryan"), ("case-c/lawyer", "Harry Azaryan", "harry-azaryan")]


def test_the_claim_page_links_each_person(built: tuple[Path, Any]) -> None:
    _, ds = built
    html = get(ds, "/-/claim/case-a/lawyer").text
    assert ('<dt>People</dt><dd><a class="person" href="/-/person/harry-azaryan">harry-azaryan</a>, '
            '<a class="person" href="/-/person/oleg-rubish">Oleg Rubish</a></dd>') in html
