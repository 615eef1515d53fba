"""People a case names: the `people:` section, and every way a person's name can be written
(Latin transliterations by iuliia, Russian case forms by pymorphy3) so that any of them finds them.

A variant is a search key, never an identity: two people are one only when the case file says
so (one entry with aliases). The people rows are logged as the case file gives them; the variants
are made from them where names are looked up (the published copy's person_variants, with the
versions of the libraries that made them: `tools()`), so a run never loads the dictionary.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.claims.validate import SLUG, Validator
from ingest.claims.yamlstrict import Node

PERSON_KEYS = ("id", "name", "aliases", "role")
# iuliia's schemes, by the name a variant records. The passport scheme is ICAO Doc 9303 (Russian
# international passports since 2013); MVD 782 is the one passports used from 2010 to 2013.
SCHEMES = (("passport", "ICAO_DOC_9303"), ("passport-2010", "MVD_782"), ("bgn-pcgn", "BGN_PCGN"),
           ("wikipedia", "WIKIPEDIA"))
CASES = ("gent", "datv", "accs", "ablt", "loct")  # nomn is the name as written
NAME_TAGS = ("Name", "Surn", "Patr")
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
WORD = re.compile(r"\w+(?:[-‐]\w+)*")  # an apostrophe ends a word: Azarian's is Azarian


@dataclass(frozen=True)
class Person:
    id: str  # a slug; the same id in two cases is one person on the site
    name: str
    line: int
    aliases: tuple[str, ...] = ()
    role: str | None = None
    declared: bool = True  # False: named only in a claim's people list, with no people: section

    @property
    def names(self) -> tuple[str, ...]:
        """What a claim's `people:` may write for this person: the id, the name or an alias."""
        return (self.id, self.name, *self.aliases) if self.declared else (self.name, *self.aliases)


@dataclass(frozen=True)
class Variant:
    text: str  # as it would be written
    key: str  # name_key(text): what lookups compare
    how: str  # name, alias, passport, passport-2010, bgn-pcgn, wikipedia, or a case (gent, ...), comma-joined
    whole: bool  # the whole name (True) or one word of it (a surname alone finds its person too)


def name_key(text: str | None) -> str:
    """The form names are compared in: NFKC, case folded, ё as е, white space runs as one space."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("ё", "е")
    return " ".join(folded.split())


def words(name: str) -> list[str]:
    return WORD.findall(name)


@functools.cache
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@functools.cache
def tools() -> str:
    """The libraries (and dictionary) that make the variants, with their versions."""
    names = ("iuliia", "pymorphy3", "pymorphy3-dicts-ru")
    return ", ".join(f"{n} {importlib.metadata.version(n)}" for n in names)


def transliterations(text: str) -> list[tuple[str, str]]:
    """(scheme, Latin text) for a text with Cyrillic letters; nothing for one without."""
    if not CYRILLIC.search(text):
        return []
    import iuliia

    out = []
    for how, scheme in SCHEMES:
        # BGN/PCGN writes ё as ë; iuliia's table leaves it the Cyrillic letter.
        out.append((how, getattr(iuliia, scheme).translate(text).replace("ё", "ë").replace("Ё", "Ë")))
    return out


@functools.cache
def case_forms(word: str) -> dict[str, str]:
    """A Russian name word's singular case forms {case: form}, from its likeliest reading as a
    first name, surname or patronymic; {} for a word pymorphy3 does not read as one (or that
    does not decline)."""
    if not CYRILLIC.search(word):
        return {}
    readings = [p for p in _morph().parse(word) if p.tag.case == "nomn" and p.tag.number == "sing"
                and any(t in p.tag for t in NAME_TAGS)]
    if not readings:
        return {}
    best = max(readings, key=lambda p: p.score)
    out: dict[str, str] = {}
    for form in best.lexeme:
        if form.tag.number == "sing" and form.tag.gender == best.tag.gender and form.tag.case in CASES:
            out.setdefault(form.tag.case, _like(form.word, word))
    return {c: f for c, f in out.items() if name_key(f) != name_key(word)}


def _like(form: str, written: str) -> str:
    """`form` (lower case, as pymorphy3 gives it) capitalised as `written` is."""
    if written[:1].isupper():
        return "-".join(part[:1].upper() + part[1:] for part in form.split("-"))
    return form


def _name_variants(text: str, how: str) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = [(text, how, True)]
    parts = words(text)
    forms = [case_forms(w) for w in parts]
    if any(forms):
        for case in CASES:
            out.append((" ".join(f.get(case, w) for w, f in zip(parts, forms)), case, True))
    out += [(latin, scheme, True) for scheme, latin in transliterations(text)]
    if len(parts) > 1:
        for w, f in zip(parts, forms):
            if len(w) < 2:  # an initial finds everyone
                continue
            out.append((w, how, False))
            out += [(form, case, False) for case, form in f.items()]
            out += [(latin, scheme, False) for scheme, latin in transliterations(w)]
    return out


def variants(person: Person) -> tuple[Variant, ...]:
    """Every way of writing the person's name and aliases, each key once (its ways joined), in the
    order found: the name first, whole names before single words."""
    found: list[tuple[str, str, bool]] = []
    for text, how in [(person.name, "name"), *((a, "alias") for a in person.aliases)]:
        found += _name_variants(text, how)
    by_key: dict[str, tuple[str, list[str], bool]] = {}
    for text, how, whole in sorted(found, key=lambda v: not v[2]):
        key = name_key(text)
        if not key:
            continue
        if key in by_key:
            if how not in by_key[key][1]:
                by_key[key][1].append(how)
        else:
            by_key[key] = (text, [how], whole)
    return tuple(Variant(text, key, ", ".join(hows), whole) for key, (text, hows, whole) in by_key.items())


@dataclass(frozen=True)
class Mention:
    person: Person
    variant: Variant
    start: int  # characters [start, end) of `text`
    end: int


def mentions(text: str, people: Sequence[Person], *, whole_only: bool = False) -> list[Mention]:
    """Where `text` names any of `people` by one of their variants, word for word; the longest
    variant wins where several start at one word. For hints only: a namesake reads the same."""
    return mention_finder(people, whole_only=whole_only)(text)


def mention_finder(people: Sequence[Person], *, whole_only: bool = False) -> Callable[[str], list[Mention]]:
    """`mentions` for many texts: the people's variants are made once, not once per text."""
    table: dict[tuple[str, ...], tuple[Person, Variant]] = {}
    for person in people:
        for v in variants(person):
            if v.whole or not whole_only:
                table.setdefault(tuple(name_key(w) for w in words(v.text)), (person, v))
    longest = max((len(k) for k in table), default=0)
    return lambda text: _find(text, table, longest)


def _find(text: str, table: dict[tuple[str, ...], tuple[Person, Variant]], longest: int) -> list[Mention]:
    spans = [(m.start(), m.end(), name_key(m.group())) for m in WORD.finditer(text)]
    out: list[Mention] = []
    i = 0
    while i < len(spans):
        for n in range(min(longest, len(spans) - i), 0, -1):
            hit = table.get(tuple(s[2] for s in spans[i:i + n]))
            if hit:
                out.append(Mention(hit[0], hit[1], spans[i][0], spans[i + n - 1][1]))
                i += n
                break
        else:
            i += 1
    return out


def slug_for(name: str) -> str:
    """A slug made from a name (Cyrillic transliterated by the Wikipedia scheme); "person" when
    nothing of it is a Latin letter or digit."""
    latin = dict(transliterations(name)).get("wikipedia", name)
    ascii_ = unicodedata.normalize("NFKD", latin).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:100].strip("-")
    return slug or "person"


def parse_people(v: Validator, node: Node) -> list[Person] | None:
    """The case file's `people:` list, every problem reported through `v` with its line and key
    path; None when it is not a list (the claims' names are then not checked against it)."""
    if not isinstance(node.value, list):
        v.error(node.line, "people", "expected a list of people (each with id and name)")
        return None
    out: list[Person] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(node.value):
        path = f"people.{i}"
        m = v.mapping(item, path, PERSON_KEYS, ("id", "name"))
        if m is None:
            continue
        pid = v.unique_slug(m, path, seen, "person")
        aliases = [name for name, _, _ in v.names(m, "aliases", path, max_len=300)]
        out.append(Person(id=pid or "", name=v.string(m, "name", path, max_len=300) or "", line=item.line,
                          aliases=tuple(aliases), role=v.string(m, "role", path, max_len=300)))
    return out


def resolve(v: Validator, people: Sequence[Person], written: str, line: int, path: str) -> None:
    """Check that a claim's `people:` entry names exactly one declared person (by id, name or alias)."""
    named = list({p.id: p for p in people if written in p.names}.values())
    if not named:
        known = ", ".join(p.id for p in people if p.id) or "none"
        v.error(line, path, f'unknown person "{written}" (known: {known}); write a person\'s id, name or '
                            "alias from people:, or add them there")
    elif len(named) > 1:
        v.error(line, path, f'"{written}" names more than one person ({", ".join(p.id for p in named)}); '
                            "write the person's id")


def implicit_people(names: Iterable[str]) -> list[Person]:
    """People for a case file without a `people:` section: each distinct name a claim writes is
    one person (a second name with the same slug gets -2, -3, ...); never merged by variants."""
    out: list[Person] = []
    taken: set[str] = set()
    for name in dict.fromkeys(names):
        base = slug_for(name)
        slug, n = base, 1
        while slug in taken or not SLUG.match(slug):
            n += 1
            slug = f"{base[:95]}-{n}"
        taken.add(slug)
        out.append(Person(id=slug, name=name, line=0, declared=False))
    return out
