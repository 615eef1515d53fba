from dataclasses import dataclass

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from ingest.claims.anchor import (
    Anchor,
    _distance,
    _myers,
    anchor,
    normalize,
    quotes_equivalent,
)
from ingest.claims.fragments import text_fragment_url

TEXT = "The court heard 12 witnesses. The court adjourned."


@pytest.mark.parametrize(
    "text, quote, match, start, end",
    [
        (TEXT, "heard 12 witnesses", "exact", 10, 28),
        (TEXT, "The court heard", "exact", 0, 15),
        (TEXT, "adjourned.", "exact", 40, 50),
        (TEXT, "T", "ambiguous", None, None),
        (TEXT, "absent", "not_found", None, None),
        ("Задержаны 12 человек", "12 человек", "exact", 10, 20),
        ("a\u00a0b", "a\u00a0b", "exact", 0, 3),
        ("aaa", "aa", "ambiguous", None, None),
    ],
)
def test_exact_table(text, quote, match, start, end):
    a = anchor(text, quote)
    assert (a.match, a.start, a.end, a.rules) == (match, start, end, ())
    if match == "exact":
        assert a.exact == text[start:end] == quote
        assert a.found and a.score == 1.0


def test_exact_selectors_and_context():
    a = anchor(TEXT, "12 witnesses")
    assert a.prefix == "The court heard "
    assert a.suffix == ". The court adjourned."
    assert a.reason == "found exactly at 16"
    assert a.selectors() == {
        "TextQuoteSelector": {"type": "TextQuoteSelector", "exact": "12 witnesses",
                              "prefix": "The court heard ", "suffix": ". The court adjourned."},
        "TextPositionSelector": {"type": "TextPositionSelector", "start": 16, "end": 28},
    }


def test_context_is_capped_at_32_chars():
    text = "x" * 40 + "QUOTE" + "y" * 40
    a = anchor(text, "QUOTE")
    assert (a.prefix, a.suffix) == ("x" * 32, "y" * 32)


@pytest.mark.parametrize(
    "text, quote, start, end, exact, rules",
    [
        # straight quotes, a line break and е typed against curly quotes, ё and a newline
        ("Он сказал: «Всё\nбудет хорошо» — и ушёл.", '"Все будет хорошо" - и ушел',
         11, 38, "«Всё\nбудет хорошо» — и ушёл", ("case", "dashes", "quotes", "whitespace", "yo")),
        ("She said \u201cwe\u2019ll stay\u201d.", "\"we'll stay\"",
         9, 21, "\u201cwe\u2019ll stay\u201d", ("quotes",)),
        ("line one\r\n  line two", "one line", 5, 16, "one\r\n  line", ("whitespace",)),
        ("Pages 10\u201312 and 14\u201415", "10-12 and 14-15", 6, 21,
         "10\u201312 and 14\u201415", ("dashes",)),
        ("Shouting: STOP THE VAN", "stop the van", 10, 22, "STOP THE VAN", ("case",)),
        ("a re\u00adport here", "report", 2, 9, "re\u00adport", ("soft_hyphen",)),
        ("x pro\u200btest\ufeff y", "protest", 2, 10, "pro\u200btest", ("zero_width",)),
        ("the \ufb01nal word", "final", 4, 8, "\ufb01nal", ("nfkc",)),
        # decomposed é in the text: the match ends after the combining mark
        ("caf\u0065\u0301 noir", "caf\u00e9", 0, 5, "cafe\u0301", ("nfkc",)),
        ("ЁЛКИ и палки", "елки", 0, 4, "ЁЛКИ", ("case", "yo")),
        # "case" is listed because "В" folds, although both sides have it capitalised
    ],
)
def test_normalized_table(text, quote, start, end, exact, rules):
    a = anchor(text, quote)
    assert (a.match, a.start, a.end, a.rules) == ("normalized", start, end, rules)
    assert text[a.start:a.end] == exact == a.exact
    assert a.found and a.score == 1.0


def test_match_never_starts_inside_one_chars_expansion():
    # "ﬁ" normalises to "fi"; a quote "inal" must not start in the middle of it.
    assert anchor("the \ufb01nal", "inal").match != "normalized"


@pytest.mark.parametrize(
    "kwargs, match, start, candidates",
    [
        ({}, "ambiguous", None, (9, 40)),
        ({"prefix": "Monday:"}, "exact", 40, ()),
        ({"prefix": "Sunday: "}, "exact", 9, ()),
        ({"suffix": "on Tuesday"}, "exact", 40, ()),
        ({"suffix": "  ON SUNDAY"}, "exact", 9, ()),
        ({"prefix": '"Sunday:'}, "exact", 9, ()),  # text before the quote normalised too
        ({"prefix": "Friday:"}, "ambiguous", None, (9, 40)),
    ],
)
def test_prefix_and_suffix_pick_the_occurrence(kwargs, match, start, candidates):
    text = "\u00abSunday: shots fired on Sunday. Monday: shots fired on Tuesday"
    a = anchor(text, "shots fired", **kwargs)
    assert (a.match, a.start, a.candidates) == (match, start, candidates)


def test_ambiguous_reason_and_no_selectors():
    a = anchor("yes, yes, yes", "yes")
    assert a.candidates == (0, 5, 10)
    assert a.reason == "quote occurs 3 times; add prefix: to pick one"
    assert (a.start, a.end, a.found, a.selectors()) == (None, None, False, {})


def test_context_picks_a_normalized_occurrence_over_an_exact_one():
    text = 'He said "stop" once. She said \u201cstop\u201d twice.'
    a = anchor(text, '"stop"', prefix="She said")
    assert (a.match, a.start, a.end, a.exact) == ("normalized", 30, 36, "\u201cstop\u201d")


def test_context_matching_nowhere_falls_back_to_the_only_occurrence():
    a = anchor(TEXT, "12 witnesses", prefix="The jury saw")
    assert (a.match, a.start, a.found) == ("exact", 16, True)
    assert a.reason == "found exactly at 16; the given prefix/suffix fits none, so it was ignored"


def test_one_word_changed_is_fuzzy_and_not_found():
    text = "On 3 May the police detained twelve protesters near the square."
    a = anchor(text, "the police detained eleven protesters near the square")
    assert a.match == "fuzzy" and a.found is False and a.selectors() == {}
    assert (a.start, a.end) == (9, 62)
    assert a.exact == "the police detained twelve protesters near the square"
    assert a.score == pytest.approx(1 - 4 / 53, abs=1e-4)
    assert 0 < a.score < 1


def test_fuzzy_uses_context_to_pick_between_equal_candidates():
    text = "A: the van left at noon. B: the van left at noon."
    plain = anchor(text, "the vans left at noon")
    assert (plain.match, plain.start) == ("fuzzy", 3)
    picked = anchor(text, "the vans left at noon", prefix="B:")
    assert (picked.match, picked.start) == ("fuzzy", 28)


def test_ambiguous_even_with_context():
    a = anchor("A: no. B: no. A: no.", "no", prefix="A:")
    assert (a.match, a.candidates) == ("ambiguous", (3, 17))
    assert a.reason == (
        "quote occurs 2 times even with the given prefix/suffix; lengthen them to pick one")


def test_fuzzy_score_counts_the_reported_passage():
    # "inal" sits inside the expansion of "ﬁ"; the reported passage is "ﬁnal", one edit away
    a = anchor("the \ufb01nal word", "inal")
    assert (a.match, a.start, a.end, a.exact, a.score) == ("fuzzy", 4, 8, "\ufb01nal", 0.75)


def _filler(n: int) -> str:
    # deterministic, varied words, so that seed pieces are not everywhere
    return " ".join(f"w{(i * 7919) % 100003}" for i in range(n))


def test_large_text_exact_normalized_and_windowed_fuzzy():
    quote = "\u201cThe police detained twelve protesters\u201d"
    text = _filler(150_000) + " " + quote + " " + _filler(20_000)
    assert len(text) > 1_000_000
    at = text.index("\u201cThe")
    a = anchor(text, quote)
    assert (a.match, a.start) == ("exact", at)
    a = anchor(text, '"the police detained twelve protesters"')
    assert (a.match, a.start, a.end) == ("normalized", at, at + 39)
    a = anchor(text, "the police detained eleven protesters")
    assert (a.match, a.start, a.found) == ("fuzzy", at + 1, False)
    assert a.exact == "The police detained twelve protesters"
    a = anchor(text, "nothing like this sentence appears in the text at all")
    assert a.match == "not_found"


@pytest.mark.parametrize(
    "text, quote, reason",
    [
        ("some text", "", "the quote is empty"),
        ("some text", " \n\t", "the quote is empty"),
        ("some text", "\u200b", "nothing is left of the quote after normalisation"),
        ("some text", "zzzzzzzzzzzzzzzz", "not found, even approximately"),
        ("some text", "xy", "not found, and too short to search approximately"),
    ],
)
def test_not_found_reasons(text, quote, reason):
    a = anchor(text, quote)
    assert (a.match, a.start, a.reason) == ("not_found", None, reason)


@dataclass
class Page:
    number: int
    start: int
    end: int
    has_text: bool


PAGED = "Report. Arrests made.\fSecond page. Arrests made.\f"
PAGES_DICTS = [
    {"number": 1, "start": 0, "end": 22, "has_text": True},
    {"number": 2, "start": 22, "end": 49, "has_text": True},
    {"number": 3, "start": 49, "end": 49, "has_text": False},
]
PAGES_OBJS = [Page(**p) for p in PAGES_DICTS]


@pytest.mark.parametrize("pages", [PAGES_DICTS, PAGES_OBJS])
@pytest.mark.parametrize(
    "page, match, start, end, found_page",
    [
        (None, "ambiguous", None, None, None),
        (1, "exact", 8, 20, 1),
        (2, "exact", 35, 47, 2),
        (3, "unverifiable", None, None, 3),
        (9, "not_found", None, None, None),
    ],
)
def test_page_restriction(pages, page, match, start, end, found_page):
    a = anchor(PAGED, "Arrests made", pages=pages, page=page)
    assert (a.match, a.start, a.end, a.page) == (match, start, end, found_page)


def test_page_number_reported_without_restriction():
    a = anchor(PAGED, "Second page", pages=PAGES_DICTS)
    assert (a.match, a.start, a.page, a.reason) == ("exact", 22, 2, "found exactly at 22 on page 2")


def test_text_none_is_unverifiable():
    a = anchor(None, "anything")
    assert (a.match, a.found, a.reason) == ("unverifiable", False, "the extraction has no text")


@pytest.mark.parametrize(
    "s, expected",
    [
        ("  A\u00a0 b\n", ("a b", [2, 3, 5, 7], {"whitespace", "case"})),
        ("x\u00ady", ("xy", [0, 2, 3], {"soft_hyphen"})),
        ("\u201cё\u201d", ('"е"', [0, 1, 2, 3], {"quotes", "yo"})),
        ("a\u2014b", ("a-b", [0, 1, 2, 3], {"dashes"})),
        ("\ufb01", ("fi", [0, 0, 1], {"nfkc"})),
        ("Straße", ("strasse", [0, 1, 2, 3, 4, 4, 5, 6], {"case"})),
        ("", ("", [0], set())),
    ],
)
def test_normalize_table(s, expected):
    assert normalize(s) == (expected[0], expected[1], expected[2])


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("«Всё хорошо»", '"все  хорошо"', True),
        ("it\u2019s 1\u20132", "IT'S 1-2", True),
        ("re\u00adport", "report", True),
        ("report", "reports", False),
    ],
)
def test_quotes_equivalent(a, b, same):
    assert quotes_equivalent(a, b) is same


LONG = " ".join(f"w{i}" for i in range(120))


@pytest.mark.parametrize(
    "url, quote, prefix, suffix, expected",
    [
        ("https://example.org/a", "police station", None, None,
         "https://example.org/a#:~:text=police%20station"),
        ("https://example.org/a#old", "a-b, c & d", None, None,
         "https://example.org/a#:~:text=a%2Db%2C%20c%20%26%20d"),
        ("HTTP://example.org/?q=1", "Всё", None, None,
         "HTTP://example.org/?q=1#:~:text=%D0%92%D1%81%D1%91"),
        ("http://example.org/", "two\n words", "said-", "end,",
         "http://example.org/#:~:text=said%2D-,two%20words,-end%2C"),
        ("https://example.org/", "50% (of them)!", None, None,
         "https://example.org/#:~:text=50%25%20%28of%20them%29%21"),
        ("https://example.org/", LONG, None, None,
         "https://example.org/#:~:text=w0%20w1%20w2%20w3%20w4,w115%20w116%20w117%20w118%20w119"),
        ("ftp://example.org/a", "x", None, None, None),
        ("file:///etc/passwd", "x", None, None, None),
        ("example.org/a", "x", None, None, None),
        ("https://example.org/", "   ", None, None, None),
    ],
)
def test_text_fragment_url(url, quote, prefix, suffix, expected):
    assert text_fragment_url(url, quote, prefix, suffix) == expected


def test_anchor_is_frozen():
    a = anchor(TEXT, "court heard")
    assert isinstance(a, Anchor)
    with pytest.raises(AttributeError):
        a.start = 0  # type: ignore[misc]


# --- properties ---------------------------------------------------------------

# Text mixing plain letters with the characters normalisation touches, so that
# repeats, whitespace runs, marks and folds all turn up often.
ALPHABET = st.sampled_from(list("ab ab\n\tAB.") + ["\u00ad", "\u200b", "\u0301", "\u00e9",
                                                  "\u201c", "\u201d", "\u2014", "ё", "Ё",
                                                  "е", "\ufb01", "ß", "\u00a0"])
texts = st.one_of(st.text(ALPHABET, min_size=1, max_size=60), st.text(min_size=1, max_size=60))


@settings(max_examples=400, deadline=None)
@given(texts, st.data())
@example("aaaa", None)
def test_substring_with_its_true_context_is_found_at_its_own_position(text, data):
    if data is None:  # the @example: highly repetitive text
        i, j = 1, 3
    else:
        i = data.draw(st.integers(0, len(text) - 1))
        j = data.draw(st.integers(i + 1, len(text)))
    quote = text[i:j]
    assume(not quote.isspace())
    a = anchor(text, quote, prefix=text[max(0, i - 32):i] or None, suffix=text[j:j + 32] or None)
    if a.match == "exact":
        assert (a.start, a.end) == (i, j)
    else:
        assert a.match == "ambiguous" and i in a.candidates


def _retype(quote: str) -> str:
    # what a person copying the quote by hand might produce
    table = {"\u201c": '"', "\u201d": '"', "\u2014": "-", "ё": "е", "Ё": "Е", "\n": " ",
             "\t": "  ", "\u00ad": "", "\u200b": "", "\u00a0": " "}
    return "".join(table.get(c, c) for c in quote).upper()


@settings(max_examples=400, deadline=None)
@given(texts, st.data(), st.booleans())
def test_normalized_matches_map_back_to_equivalent_text(text, data, retype):
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i + 1, len(text)))
    quote = _retype(text[i:j]) if retype else data.draw(st.text(ALPHABET, min_size=1, max_size=8))
    a = anchor(text, quote)
    if a.match == "normalized":
        assert a.exact == text[a.start:a.end]
        assert normalize(text[a.start:a.end])[0] == normalize(quote)[0]
    elif a.match == "exact":
        assert text[a.start:a.end] == quote
    elif a.match == "ambiguous":
        assert list(a.candidates) == sorted(set(a.candidates)) and len(a.candidates) > 1


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_normalize_map_is_monotone_and_points_into_the_string(s):
    norm, where, rules = normalize(s)
    assert len(where) == len(norm) + 1 and where[-1] == len(s)
    assert where == sorted(where) and all(0 <= w < len(s) for w in where[:-1])
    assert norm == norm.strip(" ") and "  " not in norm
    assert quotes_equivalent(s, s)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_fuzzy_is_never_found(text, quote):
    a = anchor(text, quote)
    assert a.found == (a.match in ("exact", "normalized"))
    if a.match == "fuzzy":
        assert 0 <= a.score < 1 and a.exact == text[a.start:a.end]


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


small = st.text("abc", max_size=12)


@settings(max_examples=500, deadline=None)
@given(small, small)
def test_bit_vector_distance_agrees_with_the_textbook_table(a, b):
    assert _distance(a, b) == _levenshtein(a, b)


@settings(max_examples=300, deadline=None)
@given(st.text("abc", min_size=1, max_size=8), st.text("abc", min_size=1, max_size=12))
def test_unanchored_scan_finds_the_best_substring(pattern, text):
    # score at j = best distance of the pattern to any text[i:j+1]
    scores = _myers(text, pattern, False)
    for j in range(len(text)):
        assert scores[j] == min(_levenshtein(pattern, text[i:j + 1]) for i in range(j + 2))


@pytest.mark.parametrize("exact,quote,fired,expected", [
    ("«Гарри Азарян» заключён под стражу", '"Гарри Азарян" заключен\nпод стражу',
     ("case", "quotes", "whitespace", "yo"), ("quotes", "whitespace", "yo")),
    ("Суд постановил", "суд постановил", ("case",), ("case",)),
    ("Суд  постановил", "Суд постановил", ("case", "whitespace"), ("whitespace",)),
    ("co\u00adoperate", "cooperate", ("soft_hyphen",), ("soft_hyphen",)),
    ("2014–2015", "2014-2015", ("dashes",), ("dashes",)),
])
def test_needed_rules_keeps_only_rules_the_match_depended_on(exact: str, quote: str, fired: tuple, expected: tuple) -> None:
    from ingest.claims.anchor import needed_rules

    assert needed_rules(exact, quote, fired) == expected
