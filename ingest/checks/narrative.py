"""Narratives that run backwards: a passage with a sequence cue ("later", «спустя») dated before the event the text gave just before it.

A source that says "Several weeks later, on 21 April, he was released" after "On 16 May the
court arrested him" contradicts itself, or one of its dates is wrong. The check reads the dates
in a source's text in order; a date written without a year takes the year of the last full date
before it in the text, else the source's publication year, and after a cue the next year when
that puts it within three months after the previous date (28 December, then "two weeks later,
on 10 January"). Every finding names both passages, both dates and how each year was inferred.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ingest.checks.dates import DateAt, read_date, written_dates

ROLLOVER_DAYS = 92

CUE = re.compile(
    r"(?i)(?<!\w)(?:(?:a|one|two|three|four|five|six|several|a\s+few|few|\d+)\s+(?:days?|weeks?|months?|years?)\s+later"
    r"|later|then|afterwards?|subsequently|after\s+(?:that|this|which)|the\s+next\s+(?:day|week|month)"
    r"|the\s+following\s+(?:day|week|month)"
    r"|спустя|позже|позднее|затем|потом|после\s+этого|на\s+следующий\s+день|впоследствии"
    r"|через\s+(?:[\w-]+\s+){0,2}?(?:дн[еяи]\w*|день|сутки|недел\w*|месяц\w*|год\w*|лет))(?!\w)")
# Cues that point back, not forward.
NOT_CUE = re.compile(r"(?i)(?<!\w)(?:until|by|since|till|before|even|back)\s+then(?!\w)")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"«“(\[]?[A-ZА-ЯЁ0-9])|\n+")


@dataclass(frozen=True)
class Event:
    date: dt.date
    written: str
    passage: str
    year_note: str | None


@dataclass(frozen=True)
class Backwards:
    cue: str
    before: Event  # the event the text gave just before
    after: Event  # the passage with the cue, dated earlier


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(text):
        if text[start:m.start()].strip():
            out.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        out.append((start, len(text)))
    return out


def _passage(text: str, start: int, end: int, limit: int = 240) -> str:
    words = " ".join(text[start:end].split())
    return words if len(words) <= limit else words[:limit - 1].rstrip() + "…"


def backwards(text: str, year: int | None, year_from: str) -> list[Backwards]:
    """Every place where a sequence cue's date falls before the date the text gave just before it.

    `year` (from `year_from`, e.g. "the source's publication date") resolves dates written
    without a year when no full date comes before them in the text."""
    found: list[Backwards] = []
    previous: Event | None = None
    last_year: tuple[int, str] | None = (year, year_from) if year is not None else None
    for s_start, s_end in sentences(text):
        sentence = text[s_start:s_end]
        for d in written_dates(sentence):
            cue = _cue_before(sentence, d)
            event = _event(text, s_start, s_end, d, last_year, previous if cue else None)
            if event is None:
                continue
            if d.has_year:
                last_year = (event.date.year, f'"{d.written}" earlier in the text')
            elif last_year is not None and event.date.year != last_year[0]:
                last_year = (event.date.year, f'"{d.written}" read as {event.date.isoformat()} earlier in the text')
            if cue and previous is not None and event.date < previous.date:
                found.append(Backwards(cue, previous, event))
            previous = event
    return found


def _cue_before(sentence: str, d: DateAt) -> str | None:
    """The sequence cue in the sentence before the date, if any (the last one)."""
    head = NOT_CUE.sub(" ", sentence[:d.start])
    cues = list(CUE.finditer(head))
    return " ".join(cues[-1].group(0).split()) if cues else None


def _event(text: str, s_start: int, s_end: int, d: DateAt, last_year: tuple[int, str] | None,
           previous: Event | None) -> Event | None:
    passage = _passage(text, s_start, s_end)
    if d.has_year:
        day = read_date(d.written)
        return Event(day, d.written, passage, None) if day else None
    if last_year is None:
        return None  # no year anywhere before it: not placed in time
    y, where = last_year
    day = read_date(d.written, y)
    if day is None:
        return None
    note = f"year {y} taken from {where}"
    if previous is not None and day < previous.date:
        later = read_date(d.written, y + 1)
        if later is not None and (later - previous.date).days <= ROLLOVER_DAYS:
            return Event(later, d.written, passage, f"year {y + 1} inferred: the first {d.written} after "
                                                     f"{previous.date.isoformat()}")
    return Event(day, d.written, passage, note)
