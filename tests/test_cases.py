"""Case files: the default case loads, and every kind of bad file gives its exact message."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from ingest.claims.cases import load_case
from ingest.claims.validate import url_problem
from ingest.errors import CaseFileErrors

ROOT = Path(__file__).resolve().parent.parent

GOOD_HEAD = """case:
  id: demo
  title: Demo
sources:
  - id: doc
    path: docs/a.txt
"""


def write_case(tmp_path: Path, text: str) -> Path:
    (tmp_path / "docs").mkdir(exist_ok=True)
    (tmp_path / "docs" / "a.txt").write_text("Alpha beta gamma.", encoding="utf-8")
    case = tmp_path / "demo.yml"
    case.write_text(text, encoding="utf-8")
    return case


def errors_of(tmp_path: Path, text: str) -> list[str]:
    case = write_case(tmp_path, text)
    with pytest.raises(CaseFileErrors) as info:
        load_case(case, "demo.yml")
    return [str(e) for e in info.value.errors]


def test_default_case_loads() -> None:
    case = load_case(ROOT / "cases" / "workers-power.yml", "cases/workers-power.yml")
    assert case.id == "workers-power"
    assert [s.id for s in case.sources][0] == "statement"
    assert case.sources[0].path == "workers-power/statement.txt"
    assert case.sources[0].published_after == "2025-05-16"
    assert all(s.wanted for s in case.sources[1:])
    assert len(case.claims) >= 10


def test_scalars_stay_strings(tmp_path: Path) -> None:
    case = write_case(tmp_path, GOOD_HEAD + "    language: no\n    published: 2025-05-20\n")
    source = load_case(case).sources[0]
    assert (source.language, source.published) == ("no", "2025-05-20")


def test_both_yaml_parsers_build_the_same_tree() -> None:
    """libyaml marks a plain scalar's style "" where PyYAML's own parser says None: an empty or
    null value is None with either, so a run reads a case file the same whichever parser it has."""
    import yaml

    from ingest.claims import yamlstrict

    text = "a:\nb: ~\nc: null\nd: ''\ne: \"~\"\nf: [x, '', ]\ng: {h: }\n"
    fast = yamlstrict._read(text, yaml.CSafeLoader)
    assert fast == yamlstrict._read(text, yaml.SafeLoader)
    tree, problems = fast
    assert tree is not None and problems == []
    assert {k: v.value for k, v in tree.value.items() if k not in "fg"} == {"a": None, "b": None, "c": None, "d": "", "e": "~"}
    assert [n.value for n in tree.value["f"].value] == ["x", ""]
    assert tree.value["g"].value["h"].value is None


BAD = [
    ("unknown key", GOOD_HEAD + "    colour: red\n",
     ['demo.yml:7: sources.0.colour: unknown key "colour" (allowed: id, url, path, wanted, telegram, title, kind, outlet, language, published, published_after, capture)']),
    ("duplicate source id", GOOD_HEAD + "  - id: doc\n    wanted: true\n",
     ['demo.yml:7: sources.1.id: duplicate source id "doc" (first on line 5)']),
    ("duplicate yaml key", GOOD_HEAD + "    path: docs/a.txt\n",
     ['demo.yml:7: sources.0.path: duplicate key "path" (first on line 6)']),
    ("bad date", GOOD_HEAD + "    published: 2025-02-30\n",
     ['demo.yml:7: sources.0.published: "2025-02-30" is not a valid date (YYYY-MM-DD)']),
    ("missing file", GOOD_HEAD.replace("docs/a.txt", "docs/missing.txt"),
     ['demo.yml:6: sources.0.path: file not found: "docs/missing.txt" (looked for {tmp}/docs/missing.txt)']),
    ("dot-dot path", GOOD_HEAD.replace("docs/a.txt", "../a.txt"),
     ['demo.yml:6: sources.0.path: "../a.txt" contains ".."; documents must be inside the case file\'s folder']),
    ("absolute path", GOOD_HEAD.replace("docs/a.txt", "/etc/passwd"),
     ['demo.yml:6: sources.0.path: "/etc/passwd" is absolute; give a path relative to the case file\'s folder']),
    ("two of url path wanted", GOOD_HEAD + "    url: https://example.org/a\n",
     ["demo.yml:5: sources.0: give exactly one of url, path, wanted, telegram (found: url, path)"]),
    ("none of url path wanted", "case:\n  id: demo\n  title: Demo\nsources:\n  - id: doc\n",
     ["demo.yml:5: sources.0: give exactly one of url, path, wanted, telegram (found: none)"]),
    ("ftp url", "case:\n  id: demo\n  title: Demo\nsources:\n  - id: doc\n    url: ftp://example.org/a\n",
     ['demo.yml:6: sources.0.url: "ftp://example.org/a" is not an http or https URL']),
    ("bad kind", GOOD_HEAD + "    kind: rumour\n",
     ['demo.yml:7: sources.0.kind: "rumour" is not one of: report, statement, court-document, social-post, other']),
    ("bad slug", GOOD_HEAD.replace("id: doc", "id: Doc One"),
     ['demo.yml:5: sources.0.id: "Doc One" is not a slug (lower-case letters, digits and -)']),
    ("missing case", "sources:\n  - id: doc\n    wanted: true\n",
     ["demo.yml:1: case: required key is missing"]),
    ("anchor", "case: &c\n  id: demo\n  title: Demo\nsources: []\n",
     ['demo.yml:1: YAML anchor "&c" is not allowed in case files']),
    ("alias", "case:\n  id: demo\n  title: Demo\nx: *c\n",
     ['demo.yml:4: YAML alias "*c" is not allowed in case files']),
    ("tag", "case:\n  id: !!str demo\n  title: Demo\nsources: []\n",
     ['demo.yml:2: YAML tag "tag:yaml.org,2002:str" is not allowed in case files']),
    ("two documents", "case:\n  id: demo\n  title: Demo\n---\nsources: []\n",
     ["demo.yml:4: YAML syntax error: but found another document"]),
    ("key that is not a string", GOOD_HEAD + "    ? [a, b]\n    : c\n",
     ["demo.yml:7: sources.0: mapping keys must be plain strings"]),
    ("syntax", "case: [\n",
     ["demo.yml:2: YAML syntax error: expected the node content, but found '<stream end>'"]),
    ("unknown citation source", GOOD_HEAD + "claims:\n  - id: c1\n    text: A claim.\n    citations:\n      - source: ria\n        quote: Alpha\n        stance: supports\n",
     ['demo.yml:11: claims.0.citations.0.source: unknown source "ria" (known: doc)']),
    ("bad stance and page", GOOD_HEAD + "claims:\n  - id: c1\n    text: A claim.\n    citations:\n      - source: doc\n        quote: Alpha\n        stance: proves\n        page: first\n",
     ['demo.yml:13: claims.0.citations.0.stance: "proves" is not one of: supports, contradicts, mentions',
      'demo.yml:14: claims.0.citations.0.page: "first" is not a page number (1, 2, ...)']),
    ("capture on a local document", GOOD_HEAD + "    capture: browser\n",
     ["demo.yml:7: sources.0.capture: capture: applies to a url source only"]),
    ("unknown capture method", "case:\n  id: demo\n  title: Demo\n  capture: chrome\nsources:\n  - id: doc\n    url: https://example.org/a\n    capture: wget\n",
     ['demo.yml:4: case.capture: "chrome" is not one of: http, browser',
      'demo.yml:8: sources.0.capture: "wget" is not one of: http, browser']),
    ("partial claim date ok, bad note", GOOD_HEAD + "claims:\n  - id: c1\n    text: A claim.\n    date: 2025-05\n    date_note: guessed\n    citations:\n      - source: doc\n        quote: Alpha\n        stance: supports\n",
     ['demo.yml:11: claims.0.date_note: "guessed" is not one of: as stated, inferred']),
]


@pytest.mark.parametrize("name,text,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_case_files(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    assert errors_of(tmp_path, text) == [e.replace("{tmp}", str(tmp_path)) for e in expected]


def test_symlink_out_of_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    inner = tmp_path / "case"
    inner.mkdir()
    os.symlink(outside, inner / "link.txt")
    case = inner / "demo.yml"
    case.write_text("case:\n  id: demo\n  title: Demo\nsources:\n  - id: doc\n    path: link.txt\n", encoding="utf-8")
    with pytest.raises(CaseFileErrors) as info:
        load_case(case, "demo.yml")
    assert [str(e) for e in info.value.errors] == [
        'demo.yml:6: sources.0.path: "link.txt" leads outside the case file\'s folder (through a symbolic link)'
    ]


def test_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]" for i in range(1, 12)]
    assert errors_of(tmp_path, "\n".join(lines) + "\n") == ['demo.yml:1: YAML anchor "&a0" is not allowed in case files']


@pytest.mark.parametrize("url,expected", [
    ("https://example.org/a?b=c", None),
    ("HTTP://example.org/", None),
    ("javascript:alert(1)", '"javascript:alert(1)" is not an http or https URL'),
    ("https:///path", '"https:///path" has no host'),
    ("https://exa mple.org/", '"https://exa mple.org/" contains white space or control characters'),
    ("https://example.org:99999/", '"https://example.org:99999/" is not a valid URL (Port out of range 0-65535)'),
    ("https://example.org/" + "a" * 9000, "URL longer than 8192 characters"),
])
def test_url_problem(url: str, expected: str | None) -> None:
    assert url_problem(url) == expected


def _odd(path: str) -> str:
    return GOOD_HEAD.replace("path: docs/a.txt", f"path: {path}")


ODD_PATHS = [
    ("nul byte", _odd('"docs/a.txt\\0.pdf"'),
     ['demo.yml:6: sources.0.path: "docs/a.txt\\x00.pdf" contains a control character (U+0000); '
      "give the file's name as plain text"]),
    ("terminal escape", _odd('"docs/a\\e]0;owned\\a.txt"'),
     ['demo.yml:6: sources.0.path: "docs/a\\x1b]0;owned\\x07.txt" contains a control character (U+001B); '
      "give the file's name as plain text"]),
    ("lone surrogate", _odd('"docs/\\ud800.txt"'),
     ['demo.yml:6: sources.0.path: "docs/\\ud800.txt" contains a lone surrogate (U+D800); '
      "give the file's name as plain text"]),
    ("the folder itself", _odd('"."'), ['demo.yml:6: sources.0.path: "." names no file']),
    ("a folder", _odd("docs"), ['demo.yml:6: sources.0.path: "docs" is a folder, not a regular file']),
    ("a folder with a slash", _odd("docs/"), ['demo.yml:6: sources.0.path: "docs/" is a folder, not a regular file']),
    ("a name too long", _odd("docs/" + "n" * 300),
     [f'demo.yml:6: sources.0.path: "docs/{"n" * 300}" cannot be opened (File name too long)']),
]


@pytest.mark.parametrize("name,text,expected", ODD_PATHS, ids=[b[0] for b in ODD_PATHS])
def test_odd_path_values_are_case_file_errors(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    assert errors_of(tmp_path, text) == expected


def test_links_and_fifos_inside_the_folder_are_refused_as_the_run_would(tmp_path: Path) -> None:
    # The run opens documents without following any link (tests/test_hostile.py swaps files after
    # validation); validation says the same thing up front instead of passing what the run refuses.
    write_case(tmp_path, "")
    os.symlink("a.txt", tmp_path / "docs" / "link.txt")
    os.symlink("docs", tmp_path / "linked-docs")
    os.mkfifo(tmp_path / "docs" / "pipe")
    text = ("case:\n  id: demo\n  title: Demo\nsources:\n  - id: link\n    path: docs/link.txt\n"
            "  - id: via\n    path: linked-docs/a.txt\n  - id: pipe\n    path: docs/pipe\n")
    assert errors_of(tmp_path, text) == [
        'demo.yml:6: sources.0.path: "docs/link.txt" is a symbolic link; documents are read without following links',
        'demo.yml:8: sources.1.path: "linked-docs/a.txt" is inside "linked-docs", which is a symbolic link; '
        "documents are read without following links",
        'demo.yml:10: sources.2.path: "docs/pipe" is a FIFO (named pipe), not a regular file',
    ]


@pytest.mark.parametrize("url,expected", [
    ("http://admin:hunter2@127.0.0.1/x", '"http://admin:***@127.0.0.1/x" carries credentials (user:password@); '
                                         "credentials belong in an operator option or the environment, never in evidence"),
    ("https://ghp_token123@example.org/", '"https://***@example.org/" carries credentials (user:password@); '
                                          "credentials belong in an operator option or the environment, never in evidence"),
    ("https://a:b@c:d@example.org/", '"https://a:***@example.org/" carries credentials (user:password@); '
                                     "credentials belong in an operator option or the environment, never in evidence"),
    ("https://admin:hunter2@exa mple.org/", '"https://admin:***@exa mple.org/" contains white space or control characters'),
    ("https://example.org/a@b?c=d@e", None),
])
def test_url_credentials_are_refused_and_never_repeated(url: str, expected: str | None) -> None:
    assert url_problem(url) == expected


README_FULL_CASE = """case:
  id: demo
  title: Demo
sources:
  - id: doc
    path: docs/a.txt
claims:
  - id: k
    text: Alpha.
    citations:
      - source: doc
        quote: Alpha
        stance: supports
"""


def test_readme_required_keys_are_the_ones_the_loader_requires(tmp_path: Path) -> None:
    """Dropping any one key the README calls required gives exactly "required key is missing" for it."""
    readme = (ROOT / "README.md").read_text("utf-8")
    table = readme.split("Required keys, and only these", 1)[1].split("\n\n", 2)[1]
    required = {row.split("|")[1].strip(): row.split("|")[2] for row in table.splitlines()[2:]}
    assert {w: sorted(set(re.findall(r"`(\w+)`", r)) - {"url", "path", "wanted", "telegram"})
            for w, r in required.items()} == {
        "top level": ["case", "sources"], "`case`": ["id", "title"], "each source": ["id"],
        "`telegram` (a channel range)": ["channel", "from", "to"],
        "each person": ["id", "name"], "each claim": ["citations", "id", "text"],
        "each citation": ["quote", "source", "stance"]}
    drops = {"case": ("case:\n  id: demo\n  title: Demo\n", "1", "case"),
             "sources": ("sources:\n  - id: doc\n    path: docs/a.txt\n", "1", "sources"),
             "case.id": ("  id: demo\n", "2", "case.id"), "case.title": ("  title: Demo\n", "2", "case.title"),
             "claim text": ("    text: Alpha.\n", "8", "claims.0.text"),
             "claim citations": ("    citations:\n      - source: doc\n        quote: Alpha\n        stance: supports\n",
                                 "8", "claims.0.citations"),
             "citation quote": ("        quote: Alpha\n", "11", "claims.0.citations.0.quote"),
             "citation stance": ("        stance: supports\n", "11", "claims.0.citations.0.stance")}
    for name, (cut, line, path) in drops.items():
        errors = errors_of(tmp_path, README_FULL_CASE.replace(cut, "", 1))
        also = ['demo.yml:8: claims.0.citations.0.source: unknown source "doc" (known: none)'] if name == "sources" else []
        assert errors == [f"demo.yml:{line}: {path}: required key is missing", *also], name
    assert errors_of(tmp_path, README_FULL_CASE.replace("    path: docs/a.txt\n", "")) == [
        "demo.yml:5: sources.0: give exactly one of url, path, wanted, telegram (found: none)"]
    assert load_case(write_case(tmp_path, README_FULL_CASE), "demo.yml").claims[0].citations[0].stance == "supports"
    for person, path in (("  - name: P\n", "people.0.id"), ("  - id: p\n", "people.0.name")):
        changed = README_FULL_CASE.replace("claims:\n", f"people:\n{person}claims:\n")
        assert errors_of(tmp_path, changed) == [f"demo.yml:8: {path}: required key is missing"], path


def test_capture_method_comes_from_the_source_else_the_case(tmp_path: Path) -> None:
    text = ("case:\n  id: demo\n  title: Demo\n  capture: browser\nsources:\n"
            "  - id: a\n    url: https://example.org/a\n"
            "  - id: b\n    url: https://example.org/b\n    capture: http\n"
            "  - id: doc\n    path: docs/a.txt\n  - id: w\n    wanted: true\n")
    case = load_case(write_case(tmp_path, text), "demo.yml")
    assert [(s.id, s.method) for s in case.sources] == [("a", "browser"), ("b", "http"), ("doc", "local_file"),
                                                        ("w", "wanted")]
    plain = load_case(write_case(tmp_path, GOOD_HEAD.replace("path: docs/a.txt", "url: https://example.org/a")), "demo.yml")
    assert [s.method for s in plain.sources] == ["http"]
