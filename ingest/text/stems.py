"""Words as the full-text indexes keep them: folded (ё as е, lower case) and followed by their
Snowball stem (Russian for Cyrillic words, English for Latin ones), so that an inflected form
finds the others both ways (Поризковой finds Поризкова, detained finds detains)."""

from __future__ import annotations

import functools
import re
from typing import Any

import Stemmer

# The characters FTS5's unicode61 tokenizer keeps in a token (letters, digits, marks); `_` is not one.
WORD = re.compile(r"[^\W_]+")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LATIN = re.compile(r"^[a-z]+$")


@functools.cache
def _stemmer(language: str) -> Any:
    return Stemmer.Stemmer(language)


def fold_word(word: str) -> str:
    return word.lower().replace("ё", "е")


def stem(word: str) -> str:
    """A folded word's stem; the word itself when it is neither Russian nor English letters."""
    if CYRILLIC.search(word):
        return _stemmer("russian").stemWord(word)
    if LATIN.match(word):
        return _stemmer("english").stemWord(word)
    return word


def index_form(text: str | None) -> str | None:
    """`text` as an index keeps it: each word folded, then its stem when that differs."""
    if text is None:
        return None
    return " ".join(map(_word_form, WORD.findall(text)))


@functools.lru_cache(maxsize=1 << 16)  # a text repeats its words: stemming each distinct word once was most of indexing
def _word_form(word: str) -> str:
    folded = fold_word(word)
    stemmed = stem(folded)
    return folded if stemmed == folded else f"{folded} {stemmed}"


def version() -> str:
    return f"PyStemmer {Stemmer.version()} (Snowball russian, english)"


def search_stem(word: str) -> str:
    """A query word folded and stemmed: what an index word's stem must begin with to match it."""
    return stem(fold_word(word))
