"""Attribution phrases ("as RIA Novosti reported", «со ссылкой на», "Forwarded from") and outlet names compared across scripts.

A source that says where its report comes from is not an independent origin for it. The
phrases are found by pattern in English and Russian; the name after them is taken as written
(a quoted name, or up to four capitalised words), and names are compared after folding case,
transliterating Cyrillic and allowing small differences (Russian case endings: «Фонтанка»,
«Фонтанку»), so that "RIA Novosti" and «РИА Новости» are one name.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from difflib import SequenceMatcher

SAME_NAME = 0.8  # similarity of two folded names above which they are taken as one

_GENERIC = (r"(?:(?:the\s+)?(?:news\s+)?(?:agency|outlet|newspaper|channel|website|site|portal|publication)\s+"
            r"|(?:информационное\s+)?(?:агентств[оау]|издани[еяю]|телеканал[аеу]?|газет[аыу]|портал[аеу]?"
            r"|сайт[аеу]?|(?:telegram|телеграм)-канал[аеу]?|канал[аеу]?|пресс-служб[аыуе])\s+)?")
_QUOTED = r"[«\"“„](?P<q>[^«»\"“”„\n]{1,60})[»\"”“]"
_WORD = r"(?:[\w&'’-]|\.(?=\w))*"  # a dot only inside a name (Gazeta.ru), never the sentence's end
_CAPS = rf"(?P<c>(?:the\s+)?[A-ZА-ЯЁ]{_WORD}(?:[ \t\u00a0]+[A-ZА-ЯЁ0-9]{_WORD}){{0,3}})"
_NAME = rf"{_GENERIC}(?:{_QUOTED}|{_CAPS})"
_LINE = r"(?P<l>[^\n]{1,80})"

# (cue, what follows it): each cue is case-insensitive, the name after it is not.
_CUES = (
    r"(?i:\bas\s+(?:first\s+|earlier\s+|previously\s+)?reported\s+by)\s+" + _NAME,
    r"(?i:\baccording\s+to)\s+" + _NAME,
    r"(?i:\bciting)\s+" + _NAME,
    r"(?i:\bas)\s+" + _NAME + r"(?i:\s+(?:first\s+|earlier\s+|previously\s+)?(?:reported|reports|wrote|writes|said))\b",
    r"(?i:(?<!\w)как\s+(?:сообщает|сообщают|сообщило|сообщил|сообщила|сообщили|пишет|писал[оаи]?|передаёт|передает"
    r"|передало|передал[аи]?|отмечает|рассказал[оаи]?))(?:\s+(?:в|во|на))?\s+" + _NAME,
    r"(?i:(?<!\w)(?:по\s+данным|по\s+сообщению|по\s+информации|со\s+ссылкой\s+на))\s+" + _NAME,
    r"(?i:(?<!\w)(?:сообщили|сообщают|рассказали|заявили)\s+(?:в|во))\s+" + _NAME,
    r"[,—–]\s*(?i:(?:—\s*)?(?:сообщает|сообщают|сообщило|сообщила|пишет|передаёт|передает|информирует))\s+" + _NAME,
    r"(?i:\bforwarded\s+from|(?<!\w)переслано\s+от)\s*:?\s*" + _LINE,
    r"(?im:^\s*(?:source|источник)\s*:)\s*" + _LINE,
)


@functools.cache
def _cues() -> tuple[re.Pattern[str], ...]:
    # Compiled on first use: they took about 50 ms, which every command paid at start-up.
    return tuple(re.compile(c) for c in _CUES)

# Capitalised words that are not names of an origin anyone could check.
_NOT_NAMES = {"he", "she", "it", "they", "him", "her", "them", "this", "that", "these", "those", "sources", "media",
              "сми", "он", "она", "они", "источники", "reports", "witnesses", "очевидцы"}

_CYRILLIC = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r", "s",
                      "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


@dataclass(frozen=True)
class Attribution:
    name: str  # the name as written
    phrase: str  # the whole phrase as written
    start: int  # where the phrase begins in the text
    end: int


def fold_name(name: str) -> str:
    """A name folded for comparison: lower case, Cyrillic transliterated, punctuation and a leading "the" dropped."""
    out = "".join(_CYRILLIC.get(ch, ch) for ch in name.casefold())
    out = re.sub(r"[^\w\s]|_", " ", out)
    out = re.sub(r"\s+", " ", out).strip()
    return out.removeprefix("the ").strip()


def same_name(a: str, b: str) -> bool:
    """Whether two names (already folded) name the same origin."""
    if not a or not b:
        return False
    if a == b:
        return True
    # "ks" and "x" are one sound in two spellings: «Интерфакс» is Interfax.
    a, b = a.replace("ks", "x"), b.replace("ks", "x")
    return a == b or (min(len(a), len(b)) >= 4 and SequenceMatcher(None, a, b).ratio() >= SAME_NAME)


def attributions(text: str) -> list[Attribution]:
    """Every attribution phrase in `text`, in order of position, one per place."""
    found: list[Attribution] = []
    taken: list[tuple[int, int]] = []
    for cue in _cues():
        for m in cue.finditer(text):
            name = (m.groupdict().get("q") or m.groupdict().get("c") or m.groupdict().get("l") or "").strip()
            name = re.sub(r"(?i)^the\s+", "", name).rstrip(".,;:!?»\"”)").strip()
            if not fold_name(name) or fold_name(name) in {fold_name(n) for n in _NOT_NAMES}:
                continue
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            found.append(Attribution(name, m.group(0).strip(" ,—–").rstrip(".;:!?"), m.start(), m.end()))
    return sorted(found, key=lambda a: a.start)
