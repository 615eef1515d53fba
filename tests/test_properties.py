"""Property tests: case-file parsing never fails but with CaseFileErrors; text fragments encode safely."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.claims.fragments import LONG_FRAGMENT, text_fragment_url
from ingest.claims.cases import load_case
from ingest.errors import CaseFileErrors

# -- case files -----------------------------------------------------------------------------------

YAMLISH = st.lists(
    st.one_of(
        st.sampled_from(["case:", "  id: demo", "  title: Demo", "sources:", "  - id: doc", "    path: a.txt",
                         "    url: https://example.org/", "    wanted: true", "claims:", "  - ", "- ", ": ", "&a ",
                         "*a", "!!python/object", "[", "]", "{", "}", "'", '"', "|", ">", "#", "---", "...", "\t",
                         "%YAML 1.1", "? ", ",", "    quote: x", "      - source: doc"]),
        st.text(max_size=20),
    ),
    max_size=30,
).map(lambda parts: "".join(p + ("\n" if i % 3 == 0 else "") for i, p in enumerate(parts)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=YAMLISH | st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_any_text_is_a_case_or_case_file_errors(tmp_path: Path, text: str) -> None:
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    case = tmp_path / "c.yml"
    case.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_case(case, "c.yml")
    except CaseFileErrors as exc:
        assert exc.errors and all(str(e).startswith("c.yml") for e in exc.errors)


# Scalars that YAML 1.1 would turn into bools, numbers, dates or null if they were not kept as strings.
TRICKY = st.sampled_from(["no", "yes", "on", "off", "true", "False", "1", "0x1F", "1e3", "1_000", "0777", ".inf",
                          "2025-05-20", "12:30", "+1", "-0", "Norway", "~x", "a: b"])
WORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40)
SCALAR = (TRICKY | WORDS).filter(lambda s: s.strip() == s and s.strip() != "" and len(s) < 200)


def dq(s: str) -> str:
    """A YAML double-quoted scalar."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=SCALAR, outlet=SCALAR, language=SCALAR, source_title=SCALAR, quoted=st.booleans())
def test_generated_case_files_keep_their_scalars_as_strings(tmp_path: Path, title: str, outlet: str, language: str,
                                                            source_title: str, quoted: bool) -> None:
    plain_ok = all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.+-]*", v) for v in (title, outlet, language, source_title))
    q = (lambda v: v) if plain_ok and not quoted else dq
    (tmp_path / "a.txt").write_text("Alpha.", encoding="utf-8")
    case = tmp_path / "c.yml"
    case.write_text(
        f"case:\n  id: demo\n  title: {q(title)}\nsources:\n  - id: doc\n    path: a.txt\n"
        f"    outlet: {q(outlet)}\n    language: {q(language[:35])}\n    title: {q(source_title)}\n",
        encoding="utf-8")
    loaded = load_case(case, "c.yml")
    source = loaded.sources[0]
    assert (loaded.title, source.outlet, source.language, source.title) == (title, outlet, language[:35].strip(), source_title)
    assert all(isinstance(v, str) for v in (loaded.title, source.outlet, source.language, source.title))


# -- text fragments -------------------------------------------------------------------------------

FRAGMENT_TEXT = st.text(
    st.one_of(st.characters(codec="utf-8", exclude_categories=("Cs",)), st.sampled_from(list("-,&#%:~= \t\n"))),
    max_size=400)


def collapse(s: str) -> str:
    return " ".join(s.split())


@settings(max_examples=400, deadline=None)
@given(quote=FRAGMENT_TEXT, prefix=st.none() | FRAGMENT_TEXT, suffix=st.none() | FRAGMENT_TEXT)
def test_text_fragment_is_safely_encoded_and_decodes_to_the_input(quote: str, prefix: str | None,
                                                                   suffix: str | None) -> None:
    url = text_fragment_url("https://example.org/a#old", quote, prefix, suffix)
    if not quote.split():
        assert url is None
        return
    assert url is not None and url.startswith("https://example.org/a#:~:text=")
    directive = url.split("#:~:text=", 1)[1]
    assert "&" not in directive and "#" not in directive
    parts = directive.split(",")
    has_prefix = bool(prefix and prefix.split())
    has_suffix = bool(suffix and suffix.split())
    if has_prefix:
        assert parts[0].endswith("-") and "-" not in parts[0][:-1]
        assert unquote(parts.pop(0)[:-1]) == collapse(prefix)
    if has_suffix:
        assert parts[-1].startswith("-") and "-" not in parts[-1][1:]
        assert unquote(parts.pop()[1:]) == collapse(suffix)
    for part in parts:
        assert "-" not in part and "," not in part and "&" not in part
    words = quote.split()
    n = min(5, len(words) // 2)
    if len(collapse(quote)) > LONG_FRAGMENT and n:
        assert [unquote(p) for p in parts] == [" ".join(words[:n]), " ".join(words[-n:])]
    else:
        assert [unquote(p) for p in parts] == [collapse(quote)]
