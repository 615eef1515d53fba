"""Consistency checks: dates that contradict their sources or quotes, duplicate claims, unused sources.

Every finding is a warning with a reason, never a fix: the case file and the archive are left
as they are, and a person decides. Dates written in quotes are found by pattern and parsed with
dateparser (English and Russian); a date written without a year takes the claim's year, else
the source's, and the finding says which.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from itertools import combinations
from typing import Any

WARNING = "warning"
DUPLICATE_JACCARD = 0.9

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
class Finding:
    rule: str  # one of the rules in the README's "Consistency warnings" table
    subject: str
    detail: str
    state: str = WARNING

    def as_json(self) -> dict[str, Any]:
        return {"check": "consistency", "rule": self.rule, "subject": self.subject, "state": self.state,
                "detail": self.detail}


@dataclass(frozen=True)
class SourceFacts:
    id: str
    published: str | None = None
    published_after: str | None = None
    captured_at: str | None = None  # the first capture, when the archive has one
    wanted: bool = False


@dataclass(frozen=True)
class ClaimFacts:
    id: str
    text: str
    date: str | None = None
    date_note: str | None = None
    citations: tuple[tuple[str, str], ...] = ()  # (source id, quote)


@dataclass(frozen=True)
class QuoteDate:
    written: str  # as the quote writes it
    date: dt.date | None  # None: written like a date but no such day ("31.02.2025")
    year_note: str | None  # how a missing year was resolved


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


def dates_in(quote: str, year: int | None, year_from: str) -> list[QuoteDate]:
    """Every day-precise date written in `quote`; a date without a year takes `year` (from `year_from`)."""
    import dateparser

    found: list[tuple[int, QuoteDate]] = []
    taken: list[tuple[int, int]] = []
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(quote):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            written = m.group(0).strip().rstrip(",")
            text, note = written, None
            if not m.group("y"):
                if year is None:
                    continue  # no year anywhere to resolve it: not a date this check can compare
                text, note = f"{written} {year}", f"year {year} taken from {year_from}"
            parsed = dateparser.parse(text, languages=["en", "ru"],
                                      settings={"DATE_ORDER": "DMY", "REQUIRE_PARTS": ["day", "month", "year"]})
            taken.append((m.start(), m.end()))
            found.append((m.start(), QuoteDate(written, parsed.date() if parsed else None, note)))
    return [q for _, q in sorted(found, key=lambda f: f[0])]


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def jaccard(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def check(claims: list[ClaimFacts], sources: list[SourceFacts]) -> list[Finding]:
    """All consistency findings for one case's claims and sources, in a stable order."""
    by_id = {s.id: s for s in sources}
    findings: list[Finding] = []
    for claim in claims:
        findings += _claim_dates(claim, by_id)
    for a, b in combinations(claims, 2):
        score = jaccard(a.text, b.text)
        if score >= DUPLICATE_JACCARD:
            findings.append(Finding("duplicate-claims", f"claim {a.id}",
                                    f"text nearly identical to claim {b.id} (token overlap {score:.2f})"))
    cited = {source for claim in claims for source, _ in claim.citations}
    for s in sources:
        if s.id in cited:
            continue
        if s.wanted:
            findings.append(Finding("wanted-unused", f"source {s.id}", "wanted source that no claim cites or depends on"))
        else:
            findings.append(Finding("uncited-source", f"source {s.id}", "source cited by no claim"))
    return findings


def _source_bound(s: SourceFacts) -> tuple[dt.date, str] | None:
    """The latest day the source can have been written: its publication date, else its capture."""
    if s.published:
        return span(s.published)[1], f"published {s.published}"
    if s.published_after:
        return None  # only a lower bound: the source may be later than any claim
    if s.captured_at:
        return span(s.captured_at)[1], f"first captured {s.captured_at[:10]} (publication date unknown)"
    return None


def _claim_dates(claim: ClaimFacts, sources: dict[str, SourceFacts]) -> list[Finding]:
    out: list[Finding] = []
    subject = f"claim {claim.id}"
    claim_span = span(claim.date) if claim.date else None
    seen: set[str] = set()
    for source_id, _ in claim.citations:
        s = sources.get(source_id)
        if s is None or claim_span is None or source_id in seen:
            continue
        seen.add(source_id)
        bound = _source_bound(s)
        if bound and claim_span[0] > bound[0]:
            out.append(Finding("claim-after-source", subject,
                               f"dated {claim.date} but source {s.id} was {bound[1]}: "
                               "a source cannot report what had not happened yet"))
    stated = False
    for source_id, quote in claim.citations:
        s = sources.get(source_id)
        if claim.date:
            year, year_from = int(claim.date[:4]), "the claim's date"
        elif s and (s.published or s.published_after):
            year, year_from = int((s.published or s.published_after or "")[:4]), f"source {source_id}'s publication date"
        else:
            year, year_from = None, ""
        for q in dates_in(quote, year, year_from):
            inference = f"; {q.year_note}" if q.year_note else ""
            if q.date is None:
                out.append(Finding("quote-date-unreadable", subject,
                                   f'quote from {source_id} writes "{q.written}", which reads like a date but names '
                                   "no such day: not compared, check it by hand"))
            elif claim_span and claim_span[0] <= q.date <= claim_span[1]:
                stated = True
            elif claim_span:
                out.append(Finding("quote-date", subject,
                                   f'quote from {source_id} writes "{q.written}" ({q.date.isoformat()}{inference}), '
                                   f"which differs from the claim's date {claim.date}"))
    if claim.date and claim.date_note == "as stated" and not stated:
        out.append(Finding("as-stated-unquoted", subject,
                           f'date_note is "as stated" but none of its {len(claim.citations)} quote(s) states {claim.date}'))
    return out


def from_case(case: Any) -> tuple[list[ClaimFacts], list[SourceFacts]]:
    """The facts the checks need from a loaded case file (ingest.claims.cases.Case)."""
    claims = [ClaimFacts(c.id, c.text, c.date, c.date_note, tuple((x.source, x.quote) for x in c.citations))
              for c in case.claims]
    sources = [SourceFacts(s.id, s.published, s.published_after, None, s.wanted) for s in case.sources]
    return claims, sources


def from_db(db: Any) -> dict[str, tuple[list[ClaimFacts], list[SourceFacts]]]:
    """The same facts from the archive's tables, case by case (withdrawn claims left out)."""
    out: dict[str, tuple[list[ClaimFacts], list[SourceFacts]]] = {}
    for case in db.query("SELECT id FROM cases ORDER BY id"):
        sources = [SourceFacts(r["slug"] or r["id"], r["published"], r["published_after"], r["first"], bool(r["wanted"]))
                   for r in db.query("SELECT s.*, (SELECT MIN(captured_at) FROM captures c WHERE c.source_id = s.id) AS first "
                                     "FROM sources s WHERE case_id = ? ORDER BY s.rowid", [case["id"]])]
        slug = {r["id"]: r["slug"] or r["id"] for r in db.query("SELECT id, slug FROM sources WHERE case_id = ?", [case["id"]])}
        claims = []
        for r in db.query("SELECT * FROM claims WHERE case_id = ? AND withdrawn = 0 ORDER BY rowid", [case["id"]]):
            cites = tuple((slug.get(c["source_id"], c["source_id"]), c["quote"] or "")
                          for c in db.query("SELECT source_id, quote FROM citations WHERE claim_id = ? ORDER BY rowid", [r["id"]]))
            claims.append(ClaimFacts(r["slug"] or r["id"], r["text"] or "", r["date"], r["date_note"], cites))
        out[case["id"]] = (claims, sources)
    return out


def check_archive(db: Any) -> list[Finding]:
    """Every case's findings; with more than one case, each subject names its case."""
    per_case = from_db(db)
    return [Finding(f.rule, f"{case_id}: {f.subject}" if len(per_case) > 1 else f.subject, f.detail)
            for case_id, facts in per_case.items() for f in check(*facts)]
