"""Independent origins: syndicated copies served on 127.0.0.1 grouped with the evidence for every link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Site, khronika, query

from ingest.claims.attribution import Attribution, attributions, fold_name, same_name
from ingest.claims.origins import Member, canonical_link, group, url_key

HTML = "text/html; charset=utf-8"
WIRE = ("SAINT PETERSBURG, April 21. Police in Saint Petersburg have detained four students of Saint Petersburg "
        "State University suspected of belonging to a group with left-wing radical views, a law enforcement source "
        "said on Monday. One of the students, Artyom Pronko, was charged with an administrative offence for "
        "discrediting the army. According to the source, the students distributed leaflets near the university's "
        "main building and held meetings in a rented flat on Vasilyevsky Island. Searches were carried out at the "
        "homes of all four, and computers and phones were seized. The students face fines of up to 50,000 roubles. "
        "The university has not commented on the detentions.")
# The wire story lightly rewritten: a few words changed, no attribution.
COPY = ("Police in Saint Petersburg have detained four students of Saint Petersburg State University suspected of "
        "belonging to a group with left-wing radical views, a law enforcement source said on Monday. One of the "
        "students, Artyom Pronko, was charged with an administrative offence for discrediting the army. According "
        "to the source, the students handed out leaflets near the university's main building and held meetings in a "
        "rented flat on Vasilyevsky Island. Searches were carried out at the homes of all four, and computers and "
        "phones were seized. The students could face fines of up to 50,000 roubles. The university declined to comment.")
# The same news in other words, in Russian, saying where it comes from.
RU = ("В Петербурге задержаны четверо студентов СПбГУ, которых подозревают в участии в леворадикальной группе, "
      "как сообщает РИА Новости. Одному из них, Артёму Пронько, вменяют дискредитацию армии. У всех задержанных "
      "прошли обыски, изъята техника.")
# A short summary that names the wire story's page as its canonical address.
MIRROR = ("Four university students were detained in Saint Petersburg this week. Artyom Pronko was charged with "
          "discrediting the army, police sources say. Read the full report at the original address.")
# An unrelated story on the same subject, by another outlet.
OTHER = ("A court in Saint Petersburg fined a local musician 20,000 roubles on Thursday for a song performed at a "
         "concert in March. Prosecutors said the lyrics discredited the army. The musician, who plays in a punk band, "
         "said he would appeal. Artyom Pronko, a student detained in April, was among those who came to the hearing.")
TASS_A = ("Студенту Артёму Пронько вменили дискредитацию армии, со ссылкой на ТАСС пишет издание. Сам он вину не "
          "признал, его адвокат обжалует протокол.")
TASS_B = ("The student Artyom Pronko was charged with discrediting the army, according to TASS. His lawyer told "
          "reporters that the charge would be appealed in court.")


def page(title: str, body: str, head: str = "") -> bytes:
    paragraphs = "".join(f"<p>{p}.</p>" for p in body.rstrip(".").split(". "))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>{head}</head><body>'
            f"<article><h1>{title}</h1>{paragraphs}</article></body></html>").encode("utf-8")


def serve(site: Site) -> dict[str, str]:
    wire = site.url("/wire")
    pages = {
        "wire": page("Students detained", WIRE),
        "copy": page("Students detained in Petersburg", COPY),
        "ru": page("Задержаны студенты", RU),
        "mirror": page("Four students detained", MIRROR, f'<link rel="canonical" href="{wire}">'),
        "other": page("Musician fined", OTHER),
        "tass-a": page("Протокол на студента", TASS_A),
        "tass-b": page("Student charged", TASS_B),
    }
    return {name: site.set(f"/{name}", body, Content_Type=HTML) for name, body in pages.items()}


def source(sid: str, url: str, outlet: str) -> str:
    return f"  - id: {sid}\n    url: {url}\n    outlet: \"{outlet}\"\n    published: \"2025-04-21\"\n"


def cite(sid: str, quote: str) -> str:
    return f"      - source: {sid}\n        quote: \"{quote}\"\n        stance: supports\n"


def write_case(folder: Path, urls: dict[str, str]) -> Path:
    outlets = {"wire": "RIA Novosti", "copy": "Gazeta.ru", "ru": "Fontanka", "mirror": "Mirror News", "other": "Bumaga",
               "tass-a": "Kommersant", "tass-b": "The Insider"}
    pronko = "Artyom Pronko"
    case = folder / "origins.yml"
    case.write_text(
        "case:\n  id: o\n  title: Origins\nsources:\n" + "".join(source(s, urls[s], outlets[s]) for s in urls)
        + "claims:\n"
        + "  - id: charged\n    text: Pronko was charged with discrediting the army.\n    citations:\n"
        + cite("wire", f"{pronko}, was charged with an administrative offence")
        + cite("copy", f"{pronko}, was charged with an administrative offence")
        + cite("ru", "Артёму Пронько, вменяют дискредитацию армии")
        + cite("mirror", f"{pronko} was charged with discrediting the army")
        + cite("other", f"{pronko}, a student detained in April")
        + "  - id: tass\n    text: The charge was reported by two outlets.\n    citations:\n"
        + cite("tass-a", "Артёму Пронько вменили дискредитацию армии")
        + cite("tass-b", f"{pronko} was charged with discrediting the army")
        + cite("other", "Prosecutors said the lyrics discredited the army")
        + "  - id: apart\n    text: Two unrelated reports name him.\n    citations:\n"
        + cite("other", f"{pronko}, a student detained in April")
        + cite("copy", "The university declined to comment")
        + "  - id: alone\n    text: One report.\n    citations:\n"
        + cite("wire", "Searches were carried out")
        + "  - id: none\n    text: Nothing found.\n    citations:\n"
        + cite("wire", "words that are not there")
        , encoding="utf-8")
    return case


@pytest.fixture(scope="module")
def syndicated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    site = Site()
    try:
        urls = serve(site)
        folder = tmp_path_factory.mktemp("origins")
        case = write_case(folder, urls)
        archive = folder / "archive"
        result = khronika("run", str(case), "--archive", str(archive))
        assert result.code in (0, 1), result.out + result.err
    finally:
        site.close()
    return archive, urls


def test_syndicated_copies_are_one_origin_with_the_evidence_for_each_link(syndicated: tuple[Path, dict[str, str]]) -> None:
    archive, urls = syndicated
    db = archive / "archive.db"
    assert query(db, "SELECT slug, status, supporting_outlets, origins FROM claims ORDER BY rowid") == [
        ("charged", "sourced", 2, "5 outlets, 2 independent origins (texts 0.74 similar; one cites RIA Novosti; "
                                  "one names wire's page as canonical)"),
        ("tass", "sourced", 2, "3 outlets, 2 independent origins (two cite ТАСС / TASS)"),
        ("apart", "sourced", 2, "2 outlets, 2 independent origins (no shared text, attribution or canonical link "
                                "found between them; that does not show they are independent)"),
        ("alone", "sourced", 1, "1 outlet, 1 independent origin"),
        ("none", "unsourced", 0, "no supporting quote present in an archived copy"),
    ]
    origins = [(c, n, json.loads(s), json.loads(o), json.loads(u)) for c, n, s, o, u in query(
        db, "SELECT claim_id, n, sources, outlets, upstream FROM claim_origins ORDER BY claim_id, n")]
    assert origins == [
        ("o/alone", 1, ["o/wire"], ["RIA Novosti"], []),
        ("o/apart", 1, ["o/other"], ["Bumaga"], []),
        ("o/apart", 2, ["o/copy"], ["Gazeta.ru"], []),
        ("o/charged", 1, ["o/wire", "o/copy", "o/ru", "o/mirror"], ["RIA Novosti", "Gazeta.ru", "Fontanka", "Mirror News"], []),
        ("o/charged", 2, ["o/other"], ["Bumaga"], []),
        ("o/tass", 1, ["o/tass-a", "o/tass-b"], ["Kommersant", "The Insider"], ["ТАСС", "TASS"]),
        ("o/tass", 2, ["o/other"], ["Bumaga"], []),
    ]
    def at(sid: str, phrase: str) -> str:
        text = query(db, "SELECT e.text FROM extractions e JOIN captures c ON c.blake3 = e.blake3 "
                         "WHERE c.source_id = ?", (f"o/{sid}",))[0][0]
        return f"characters {text.index(phrase)}–{text.index(phrase) + len(phrase)} of its archived text"

    assert query(db, "SELECT claim_id, kind, source_id, other, upstream, score, detail FROM origin_links ORDER BY claim_id, n") == [
        ("o/charged", "similar-text", "o/wire", "o/copy", None, 0.74,
         "the archived texts of wire and copy: texts 0.74 similar (MinHash estimate over 3-word shingles, 256 permutations)"),
        ("o/charged", "attribution", "o/ru", "o/wire", None, None,
         f'ru writes "как сообщает РИА Новости" ({at("ru", "как сообщает РИА Новости")}), naming wire (RIA Novosti)'),
        ("o/charged", "canonical", "o/mirror", "o/wire", None, None,
         f"the archived page of mirror names {urls['wire']} (the address of wire) as its canonical address"),
        ("o/tass", "attribution", "o/tass-a", None, "ТАСС", None,
         f'tass-a writes "со ссылкой на ТАСС" ({at("tass-a", "со ссылкой на ТАСС")})'),
        ("o/tass", "attribution", "o/tass-b", None, "TASS", None,
         f'tass-b writes "according to TASS" ({at("tass-b", "according to TASS")})'),
    ]


ATTRIBUTIONS = [
    ("As RIA Novosti reported, four were held.", [("RIA Novosti", "As RIA Novosti reported")]),
    ("Студентов задержали, как сообщает РИА Новости.", [("РИА Новости", "как сообщает РИА Новости")]),
    ("Об этом сообщили в «Фонтанке». По данным МВД, задержаны трое.",
     [("Фонтанке", "сообщили в «Фонтанке»"), ("МВД", "По данным МВД")]),
    ("Как сообщает агентство «Интерфакс», суд арестовал его, — сообщает ТАСС.",
     [("Интерфакс", "Как сообщает агентство «Интерфакс»"), ("ТАСС", "сообщает ТАСС")]),
    ("Forwarded from Медиазона\nСуд арестовал студента", [("Медиазона", "Forwarded from Медиазона")]),
    ("Переслано от Бумага\nтекст", [("Бумага", "Переслано от Бумага")]),
    ("со ссылкой на «Фонтанку» и источники", [("Фонтанку", "со ссылкой на «Фонтанку»")]),
    ("according to the Investigative Committee of Russia, he called", [("Investigative Committee", "according to the Investigative Committee")]),
    ("citing TASS, the paper wrote", [("TASS", "citing TASS")]),
    # Not an origin anyone could check: lower-case words, pronouns, "sources", "media".
    ("according to police, he was beaten; по данным источников; according to sources; по данным СМИ", []),
]


@pytest.mark.parametrize("text, expected", ATTRIBUTIONS)
def test_attribution_phrases_in_english_and_russian(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(a.name, a.phrase) for a in attributions(text)] == expected


def test_names_compare_across_scripts_and_case_endings() -> None:
    assert fold_name("«РИА Новости»") == fold_name("RIA Novosti") == "ria novosti"
    assert same_name(fold_name("Фонтанку"), fold_name("Fontanka"))
    assert same_name(fold_name("Интерфакс"), fold_name("Interfax"))
    assert not same_name(fold_name("BBC"), fold_name("RBC"))
    assert not same_name(fold_name("Meduza"), fold_name("Mediazona"))
    assert attributions("as TASS reported") == [Attribution("TASS", "as TASS reported", 0, 16)]


def test_canonical_links_and_addresses() -> None:
    assert canonical_link('<html><head><link rel="Canonical" href="/news/1?x=2#top"></head></html>',
                          "https://www.example.org/amp/news/1") == "https://www.example.org/news/1?x=2#top"
    assert canonical_link("<html><head><link rel=stylesheet href=/a.css></head></html>", "https://e.org/") is None
    assert url_key("https://www.Example.org/news/1/#top") == url_key("http://example.org/news/1") == "example.org/news/1"
    assert url_key("javascript:alert(1)") is None


def test_same_outlet_and_an_unreadable_text_are_said() -> None:
    members = [Member("c/a", "RIA Novosti", WIRE), Member("c/b", "RIA Novosti", OTHER), Member("c/c", "Bumaga", None)]
    r = group(members)
    assert [o.sources for o in r.origins] == [("c/a", "c/b"), ("c/c",)]
    assert r.summary == "2 outlets, 2 independent origins (two from RIA Novosti; not compared, no text: c)"
    assert [link.detail for link in r.links] == ["b and a are both from RIA Novosti"]


def test_claim_page_report_and_package_show_the_origins(syndicated: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    import asyncio
    import re
    import sqlite3

    from test_web import make_datasette

    archive, urls = syndicated
    ds = make_datasette(archive)
    html = asyncio.run(ds.client.get("/-/claim/o/charged")).text
    summary = re.search(r'<dd class="origins-summary">(.*?)</dd>', html).group(1)
    assert summary == ("5 outlets, 2 independent origins (texts 0.74 similar; one cites RIA Novosti; "
                       "one names wire&#39;s page as canonical)")
    items = re.findall(r'<li class="origin-link ([a-z-]+)"><span class="kind">[a-z-]+</span>: (.*?)</li>', html)
    assert [kind for kind, _ in items] == ["similar-text", "attribution", "canonical"]
    assert re.findall(r'<li id="origin-(\d)">(.*?) <span', html) == [
        ("1", '<a href="/-/source/o/wire">o/wire</a>, <a href="/-/source/o/copy">o/copy</a>, '
              '<a href="/-/source/o/ru">o/ru</a>, <a href="/-/source/o/mirror">o/mirror</a>'),
        ("2", '<a href="/-/source/o/other">o/other</a>')]

    out = khronika("export", "o", "--archive", str(archive), "--out", str(tmp_path / "bag"))
    assert out.code == 0, out.out + out.err
    report = (tmp_path / "bag" / "data" / "report.html").read_text(encoding="utf-8")
    assert ('<p class="origins">Independent origins: 3 outlets, 2 independent origins (two cite ТАСС / TASS).</p>'
            in report)
    assert '<li>similar-text: the archived texts of wire and copy: texts 0.74 similar' in report
    conn = sqlite3.connect(tmp_path / "bag" / "data" / "archive.db")
    try:
        assert conn.execute("SELECT claim_id, n, kind FROM origin_links ORDER BY claim_id, n").fetchall() == [
            ("o/charged", 1, "similar-text"), ("o/charged", 2, "attribution"), ("o/charged", 3, "canonical"),
            ("o/tass", 1, "attribution"), ("o/tass", 2, "attribution")]
        assert conn.execute("SELECT count(*) FROM claim_origins").fetchone() == (7,)
    finally:
        conn.close()


def test_a_hostile_canonical_link_is_no_address() -> None:
    # javascript:, data: and empty hrefs name no page: no canonical link, nothing joined.
    for href in ("javascript:alert(1)", "data:text/html,x", "", "http://[::1"):
        html = f'<html><head><link rel="canonical" href="{href}"></head><body>x</body></html>'
        found = canonical_link(html, "http://127.0.0.1:8000/a")
        assert url_key(found) is None, href
    members = [Member("c/a", "A", WIRE, urls=("http://127.0.0.1:8000/a",), canonical="javascript:alert(1)"),
               Member("c/b", "B", OTHER, urls=("http://127.0.0.1:8000/b",), canonical="javascript:alert(1)")]
    assert [o.sources for o in group(members).origins] == [("c/a",), ("c/b",)]
    assert canonical_link("\x00<<<>>>" * 1000, None) is None


def test_attributions_found_ahead_are_looked_up_not_found_again() -> None:
    """A run finds its texts' attribution phrases in idle time; grouping then only looks them up."""
    from ingest.claims import origins

    text = "Суд арестовал студента, сообщает «Фонтанка». According to Interfax, the hearing was closed."
    origins.warm_attributions(text)

    def again(_: str) -> list:
        raise AssertionError("found again")

    kept = origins._cached("a", text, again)
    assert [a.name for a in kept] == ["Фонтанка", "Interfax"]
    lone = "according to the agency Reuters \ud800"  # a lone surrogate from a broken page does not stop it
    origins.warm_attributions(lone)
    assert [a.name for a in origins._cached("a", lone, again)] == ["Reuters"]
