"""`add-source`: a source added to a case file, every other byte kept, invalid results refused untouched."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import khronika, query

FIXTURE = """\
# Demo case: this comment, the odd indentation and the quoting below must survive.
case:
  id: demo   # the slug
  title: 'Demo, in single quotes'
sources:
    # the first source
    -   id: note
        path: docs/note.txt    # a local document
        title: "A note"

    - id: later
      wanted: true
    # a comment after the last source

claims:
  - id: held
    text: "Held."
    citations:
      - source: note
        quote: "held"
        stance: supports
"""
ADDED = """\
    - id: new
      path: "docs/new.txt"
      title: "A \\"new\\" document"
      kind: report
"""
EXPECTED = FIXTURE.replace("      wanted: true\n", "      wanted: true\n" + ADDED)


def _work(tmp_path: Path) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.txt").write_text("He was held.\n", "utf-8")
    (tmp_path / "docs" / "new.txt").write_text("A new document.\n", "utf-8")
    (tmp_path / "demo.yml").write_text(FIXTURE, "utf-8")
    return tmp_path


def test_added_block_and_nothing_else_changes(tmp_path: Path) -> None:
    work = _work(tmp_path)
    out = khronika("add-source", "demo.yml", "docs/new.txt", "--id", "new", "--title", 'A "new" document',
                   "--kind", "report", "--no-capture", cwd=work)
    assert (out.code, out.out, out.err) == (0, "added source new (path docs/new.txt) to demo.yml at line 13\n"
                                               "capture it with: python -m ingest run demo.yml --archive archive\n", "")
    assert (work / "demo.yml").read_text("utf-8") == EXPECTED
    assert sorted(p.name for p in work.iterdir()) == ["demo.yml", "docs"]  # no temporary file left


def test_path_from_the_current_folder_and_url(tmp_path: Path) -> None:
    work = _work(tmp_path / "w")
    out = khronika("add-source", "w/demo.yml", "w/docs/new.txt", "--id", "new", "--no-capture", cwd=tmp_path)
    assert (out.code, out.out.splitlines()[0]) == (0, "added source new (path docs/new.txt) to w/demo.yml at line 13")
    out = khronika("add-source", "w/demo.yml", "https://example.org/a?b=1", "--id", "web", "--no-capture", cwd=tmp_path)
    assert out.code == 0, out.err
    assert (work / "demo.yml").read_text("utf-8") == FIXTURE.replace(
        "      wanted: true\n", "      wanted: true\n    - id: new\n      path: \"docs/new.txt\"\n"
        "    - id: web\n      url: \"https://example.org/a?b=1\"\n")


def test_invalid_results_are_refused_and_the_file_untouched(tmp_path: Path) -> None:
    work = _work(tmp_path)
    before = (work / "demo.yml").read_bytes()
    cases = {
        ("docs/new.txt", "note"): 'error: demo.yml:13: sources.2.id: duplicate source id "note" (first on line 7)',
        ("http://admin:hunter2@example.org/x", "x"):
            'error: demo.yml:14: sources.2.url: "http://admin:***@example.org/x" carries credentials (user:password@); '
            "credentials belong in an operator option or the environment, never in evidence",
        ("docs/missing.txt", "x"): 'error: demo.yml:14: sources.2.path: file not found: "docs/missing.txt" (looked for docs/missing.txt)',
        ("docs/new.txt", "Not A Slug"): 'error: demo.yml:13: sources.2.id: "Not A Slug" is not a slug (lower-case letters, digits and -)',
    }
    for (target, sid), message in cases.items():
        out = khronika("add-source", "demo.yml", target, "--id", sid, cwd=work)
        assert (out.code, out.out, out.err) == (2, "", f"{message}\ndemo.yml was not changed.\n"), (target, sid)
        assert (work / "demo.yml").read_bytes() == before
    assert sorted(p.name for p in work.iterdir()) == ["demo.yml", "docs"]


def test_added_source_is_captured(tmp_path: Path) -> None:
    work = _work(tmp_path)
    out = khronika("add-source", "demo.yml", "docs/new.txt", "--id", "new", cwd=work)
    assert out.code == 0, out.err
    assert out.out.splitlines()[0] == "added source new (path docs/new.txt) to demo.yml at line 13"
    assert query(work / "archive" / "archive.db", "SELECT source_id, version, local_path FROM captures ORDER BY source_id") == [
        ("demo/new", 1, "docs/new.txt"), ("demo/note", 1, "docs/note.txt")]
