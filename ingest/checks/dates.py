"""Dates written in English and Russian texts ("March 13", "13 марта 2025 г.", "16.05.2025"), found by pattern and read by dateparser."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_EN_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december"
              "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec")
_RU_MONTHS = ("января|февраля|марта|апреля|мая|июня|июля|августа|сентября|октября|ноября|декабря"
              "|январь|февраль|март|апрель|май|июнь|июль|август|сентябрь|октябрь|ноябрь|декабрь")
_MONTH = rf"(?:{_EN_MONTHS}|{_RU_MONTHS})"
_YEAR = r"(?:,?\s+(?P<{}>\d{{4}})(?:\s*(?:г\.|года|год))?)?"
DATE_PATTERNS = (
    re.compile(r"(?<!\d)(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})(?!\d)"),
    re.compile(rf"(?<![\w\d])(?P<d>\d{{1,2}})\s+(?P<mon>{_MONTH})\b\.?{_YEAR.format('y')}", re.IGNORECASE),
    re.compile(rf"\b(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d){_YEAR.format('y')}", re.IGNORECASE),
)


@dataclass(frozen=True)
class QuoteDate:
    written: str  # as the text writes it
    date: dt.date | None  # None: written like a date but no such day ("31.02.2025")
    year_note: str | None  # how a missing year was resolved


@dataclass(frozen=True)
class DateAt:
    start: int
    end: int
    written: str
    has_year: bool


def span(value: str) -> tuple[dt.date, dt.date]:
    """The first and last day a full or partial ISO date (YYYY, YYYY-MM, YYYY-MM-DD or a timestamp) covers."""
    value = value[:10]
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return dt.date(parts[0], 1, 1), dt.date(parts[0], 12, 31)
    if len(parts) == 2:
        last = calendar.monthrange(parts[0], parts[1])[1]
        return dt.date(parts[0], parts[1], 1), dt.date(parts[0], parts[1], last)
    day = dt.date(*parts)
    return day, day


def written_dates(text: str) -> list[DateAt]:
    """Every day-precise date written in `text`, in order, each place once."""
    found: list[DateAt] = []
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(d.start < m.end() and m.start() < d.end for d in found):
                continue
            written = m.group(0).strip().rstrip(",")
            if written.endswith(".") and not written.endswith("г."):
                written = written[:-1]  # the sentence's full stop, not an abbreviation's ("Mar." is read without it)
            found.append(DateAt(m.start(), m.start() + len(written), written, bool(m.group("y"))))
    return sorted(found, key=lambda d: d.start)


def read_date(written: str, year: int | None = None) -> dt.date | None:
    """The day `written` names (with `year` added when it has none); None when it names no such day."""
    import dateparser

    text = f"{written} {year}" if year is not None else written
    parsed = dateparser.parse(text, languages=["en", "ru"],
                              settings={"DATE_ORDER": "DMY", "REQUIRE_PARTS": ["day", "month", "year"]})
    return parsed.date() if parsed else None


def dates_in(quote: str, year: int | None, year_from: str) -> list[QuoteDate]:
    """Every day-precise date written in `quote`; a date without a year takes `year` (from `year_from`)."""
    out: list[QuoteDate] = []
    for d in written_dates(quote):
        if d.has_year:
            out.append(QuoteDate(d.written, read_date(d.written), None))
        elif year is not None:  # no year anywhere to resolve it: not a date this check can compare
            out.append(QuoteDate(d.written, read_date(d.written, year), f"year {year} taken from {year_from}"))
    return out


