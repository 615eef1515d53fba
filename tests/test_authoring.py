"""Writing case files: `quote` finds words in a source's archived text and offers the citation to paste."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ingest.claims.finder import differences
from tests.conftest import khronika, query

CASE = """\
case:
  id: demo
  title: Demo
sources:
  - id: note
    path: docs/note.txt
  - id: later
    wanted: true
claims:
  - id: held
    text: "The court ordered him held for two months."
    citations:
      - source: note
        quote: "held for two months"
        stance: supports
"""
NOTE = ("The hearing was closed. The court ordered him held for two months.\n\n"
        "His lawyer said the “hearing” lasted ten minutes. The court ordered him held in custody.\n")


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("quote")
    (work / "docs").mkdir()
    (work / "docs" / "note.txt").write_text(NOTE, "utf-8")
    (work / "demo.yml").write_text(CASE, "utf-8")
    ran = khronika("run", "demo.yml", "--archive", "archive", "--offline", cwd=work)
    assert ran.code == 0, ran.err
    return work


def _quote(work: Path, *args: str) -> tuple[int, list[str], str]:
    out = khronika("quote", "demo.yml", *args, "--archive", "archive", cwd=work)
    lines = out.out.splitlines()
    assert lines == [] or lines[0].startswith("demo/note: capture v1 of ") and \
        lines[0].endswith(" (BLAKE3 " + _b3(work)[:12] + "), extraction 1 (text khronika-0.1.0)")
    return out.code, lines[1:], out.err


def _b3(work: Path) -> str:
    import blake3

    return blake3.blake3((work / "docs" / "note.txt").read_bytes()).hexdigest()


def _state(work: Path) -> dict[str, str]:
    """Every archive file's hash, but SQLite's own scratch files (a read-only reader of a WAL database makes them)."""
    root = work / "archive"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def test_exact_passage_with_its_citation(archived: Path) -> None:
    before = _state(archived)
    assert _quote(archived, "note", "ten minutes") == (0, [
        "'ten minutes': found exactly once",
        "",
        "1. exact, characters [105, 116)",
        "   … held for two months. His lawyer said the “hearing” lasted [[ten minutes]]. The court ordered him held in custody.",
        "   - source: note",
        '     quote: "ten minutes"',
        "     stance: mentions   # choose: supports | contradicts | mentions",
    ], "")
    assert _state(archived) == before  # read-only on the archive


def test_normalised_passage_says_which_rules(archived: Path) -> None:
    code, lines, _ = _quote(archived, "note", 'said the "hearing" lasted', "--stance", "supports")
    assert (code, lines) == (0, [
        "'said the \"hearing\" lasted': found once after normalising",
        "",
        "1. after normalising (quotes), characters [79, 104)",
        "   …sed. The court ordered him held for two months. His lawyer [[said the “hearing” lasted]] ten minutes. "
        "The court ordered him held in custody.",
        "   - source: note",
        '     quote: "said the “hearing” lasted"',
        "     stance: supports   # choose: supports | contradicts | mentions",
    ])


REPEATED = [
    "'The court ordered him held': found 2 times: every occurrence needs a prefix",
    "",
    "1. exact, characters [24, 50)",
    "   The hearing was closed. [[The court ordered him held]] for two months. His lawyer said the “hearing” lasted ten m…",
    "   - source: note",
    '     quote: "The court ordered him held"',
    '     prefix: "The hearing was closed."',
    "     stance: mentions   # choose: supports | contradicts | mentions",
    "",
    "2. exact, characters [118, 144)",
    "   … months. His lawyer said the “hearing” lasted ten minutes. [[The court ordered him held]] in custody.",
    "   - source: note",
    '     quote: "The court ordered him held"',
    '     prefix: "lasted ten minutes."',
    "     stance: mentions   # choose: supports | contradicts | mentions",
]


def test_repeated_passage_gets_a_prefix_that_anchors(archived: Path, tmp_path: Path) -> None:
    code, lines, _ = _quote(archived, "note", "The court ordered him held")
    assert (code, lines) == (0, REPEATED)
    # Pasted into a case file, the second block anchors the second occurrence and no other.
    block = "\n".join("      " + line[3:] for line in lines[11:15])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text(NOTE, "utf-8")
    pasted = CASE.split("    citations:\n")[0] + "    citations:\n" + block + "\n"
    (tmp_path / "demo.yml").write_text(pasted, "utf-8")
    ran = khronika("run", "demo.yml", "--archive", "archive", "--offline", cwd=tmp_path)
    assert ran.code == 0, ran.err
    assert query(tmp_path / "archive" / "archive.db", "SELECT start, \"end\", match FROM citations") == [(118, 144, "exact")]


def test_near_miss_says_what_differs(archived: Path) -> None:
    code, lines, _ = _quote(archived, "note", "The court ordered him detained for two months")
    assert (code, lines) == (1, [
        "'The court ordered him detained for two months': not found; closest passage at 24 differs by 6 edits (score 0.87)",
        "nearest passages (they do not count as found; quote the source's own words):",
        "",
        '1. near miss (score 0.87): "detained" where the source has "held", characters [24, 65)',
        "   The hearing was closed. [[The court ordered him held for two months]]. His lawyer said the “hearing” lasted "
        "ten minutes. The cou…",
        "   - source: note",
        '     quote: "The court ordered him held for two months"',
        "     stance: mentions   # choose: supports | contradicts | mentions",
    ])


def test_differences_word_by_word() -> None:
    assert differences("the court in Moscow ordered him held", "the district court ordered him held today") == (
        'the source adds "district"; "in Moscow" is not in the source; the source adds "today"')
    assert differences("He was Held", "he was held") == "only in what normalising ignores"


def test_claim_text_is_searched(archived: Path) -> None:
    code, lines, _ = _quote(archived, "note", "--claim", "held")
    assert (code, lines[0]) == (0, "'The court ordered him held for two months.': found exactly once")
    assert lines[2] == "1. exact, characters [24, 66)"


def test_refusals(archived: Path) -> None:
    out = khronika("quote", "demo.yml", "nope", "x", "--archive", "archive", cwd=archived)
    assert (out.code, out.out) == (2, "")
    assert out.err.splitlines()[-1] == 'Error: demo.yml: no source "nope" (known: note, later)'
    out = khronika("quote", "demo.yml", "later", "x", "--archive", "archive", cwd=archived)
    assert (out.code, out.out, out.err) == (1, "", "error: demo/later has no capture: it is wanted (address not yet known)\n")
    out = khronika("quote", "demo.yml", "note", "x", "--claim", "held", "--archive", "archive", cwd=archived)
    assert (out.code, out.err.splitlines()[-1]) == (2, "Error: give WORDS or --claim CLAIM_ID (one of them)")
    out = khronika("quote", "demo.yml", "note", "x", "--archive", "elsewhere", cwd=archived)
    assert (out.code, out.err) == (1, "error: elsewhere is not a Khronika archive (no archive.db)\n")
    assert not (archived / "elsewhere").exists()
