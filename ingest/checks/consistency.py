"""Consistency checks: dates that contradict their sources or quotes, narratives that run backwards, people a quote names but its claim omits, duplicate claims, unused sources.

Every finding is a warning with a reason, never a fix: the case file and the archive are left
as they are, and a person decides. Dates written in quotes are found by pattern and parsed with
dateparser (English and Russian, checks/dates); a date written without a year takes the claim's
year, else the source's, and the finding says which. A source's own text is read in order for
sequence cues dated before the event given just before them (checks/narrative). `verify`
keeps the findings in the table `consistency_findings`, which the case page shows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from ingest.checks.dates import QuoteDate, dates_in, span  # noqa: F401  (QuoteDate: part of this module's API)
from ingest.checks.mentioned import people_from_db, unlisted
from ingest.checks.narrative import Backwards, backwards
from ingest.claims.people import Person, mention_finder

WARNING = "warning"
DUPLICATE_JACCARD = 0.9


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
    text: str | None = None  # its text (the archive's latest, or a local text file for lint); None: not read
    family: str | None = None  # the `telegram:` channel range it is one post of


@dataclass(frozen=True)
class ClaimFacts:
    id: str
    text: str
    date: str | None = None
    date_note: str | None = None
    citations: tuple[tuple[str, str], ...] = ()  # (source id, quote)
    people: tuple[str, ...] = ()  # the ids of the people the claim lists


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.casefold()))


def jaccard(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def check(claims: list[ClaimFacts], sources: list[SourceFacts], people: Sequence[Person] = ()) -> list[Finding]:
    """All consistency findings for one case's claims, sources and people, in a stable order."""
    by_id = {s.id: s for s in sources}
    findings: list[Finding] = []
    find = mention_finder(people)
    for claim in claims:
        findings += _claim_dates(claim, by_id)
        for person, words in unlisted([q for _, q in claim.citations], set(claim.people), find):
            findings.append(Finding("person-unlisted", f"claim {claim.id}",
                                    f'a quote names {person.name} ("{words}"), who is not in the claim\'s people '
                                    "(a hint: a namesake reads the same)"))
    for a, b in combinations(claims, 2):
        score = jaccard(a.text, b.text)
        if score >= DUPLICATE_JACCARD:
            findings.append(Finding("duplicate-claims", f"claim {a.id}",
                                    f"text nearly identical to claim {b.id} (token overlap {score:.2f})"))
    for s in sources:
        findings += _narrative(s)
    cited = {source for claim in claims for source, _ in claim.citations}
    ranges: dict[str, list[SourceFacts]] = {}
    for s in sources:
        if s.family is not None:
            ranges.setdefault(s.family, []).append(s)
    for s in sources:
        if s.family is not None:
            if s is ranges[s.family][0]:
                findings += _uncited_range(s.family, ranges[s.family], cited)
        elif s.id in cited:
            continue
        elif s.wanted:
            findings.append(Finding("wanted-unused", f"source {s.id}", "wanted source that no claim cites or depends on"))
        else:
            findings.append(Finding("uncited-source", f"source {s.id}", "source cited by no claim"))
    return findings


def _uncited_range(family: str, members: list[SourceFacts], cited: set[str]) -> list[Finding]:
    """One warning for a channel range's posts that no claim cites, not one per post: a range is
    taken in whole, and most of its posts may rightly stay uncited."""
    uncited = [s.id for s in members if s.id not in cited]
    if not uncited:
        return []
    return [Finding("uncited-source", f"range {family}",
                    f"{len(uncited)} of {len(members)} posts of the range are cited by no claim: {id_runs(family, uncited)}")]


def id_runs(family: str, ids: list[str]) -> str:
    """`ovd-102…ovd-120, ovd-125`: the ids of a range's posts, runs of three or more consecutive posts shortened."""
    numbers = [int(i.rsplit("-", 1)[1]) for i in ids]
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    out: list[str] = []
    for run in runs:
        if len(run) >= 3:
            out.append(f"{family}-{run[0]}\u2026{family}-{run[-1]}")
        else:
            out += [f"{family}-{n}" for n in run]
    return ", ".join(out)


def _narrative(s: SourceFacts) -> list[Finding]:
    if not s.text:
        return []
    known = s.published or s.published_after or s.captured_at
    year = int(known[:4]) if known else None
    where = f"source {s.id}'s publication date" if s.published or s.published_after else f"source {s.id}'s first capture"
    return [Finding("narrative-backwards", f"source {s.id}", _backwards_detail(b)) for b in backwards(s.text, year, where)]


def _backwards_detail(b: Backwards) -> str:
    def dated(e: Any) -> str:
        return f'"{e.written}" ({e.date.isoformat()}' + (f"; {e.year_note}" if e.year_note else "") + ")"
    return (f'"{b.after.passage}" says "{b.cue}" but dates it {dated(b.after)}, before the event given just before it, '
            f'"{b.before.passage}" {dated(b.before)}: the order or a date is wrong')


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


LOCAL_TEXT = (".txt", ".md")
MAX_LOCAL_TEXT = 8 * 1024 * 1024


def from_case(case: Any) -> tuple[list[ClaimFacts], list[SourceFacts], list[Person]]:
    """The facts the checks need from a loaded case file (ingest.claims.cases.Case); a local
    plain-text document is read for the narrative rule, nothing else is."""
    claims = [ClaimFacts(c.id, c.text, c.date, c.date_note, tuple((x.source, x.quote) for x in c.citations),
                         tuple(p.id for p in map(case.person, c.people) if p is not None))
              for c in case.claims]
    sources = [SourceFacts(s.id, s.published, s.published_after, None, s.wanted, _local_text(case, s), s.family)
               for s in case.sources]
    return claims, sources, list(case.people)


def unread(case: Any) -> list[tuple[str, str, int]]:
    """(source id, why, how many sources) for each source of a case file whose text lint does not
    read; a channel range's posts (all URLs) are one entry, named by their ids' runs."""
    out = []
    ranges: dict[str, list[str]] = {}
    for s in case.sources:
        if s.family is not None:
            ranges.setdefault(s.family, []).append(s.id)
        elif not s.wanted and _local_text(case, s) is None:
            out.append((s.id, _why_unread(case, s), 1))
    out += [(id_runs(family, ids), "Telegram posts of a range: URLs", len(ids)) for family, ids in ranges.items()]
    return out


def _why_unread(case: Any, s: Any) -> str:
    if not s.path:
        return "a URL"
    if not s.path.lower().endswith(LOCAL_TEXT):
        return "not a .txt or .md document"
    path = Path(case.local_path(s))
    if path.is_symlink():
        return "a symbolic link, not followed"
    if not path.is_file():
        return "not a regular file"
    if path.stat().st_size > MAX_LOCAL_TEXT:
        return f"over {MAX_LOCAL_TEXT // (1024 * 1024)} MiB"
    return "outside the case folder, or unreadable"


def _local_text(case: Any, s: Any) -> str | None:
    if not s.path or not s.path.lower().endswith(LOCAL_TEXT):
        return None
    path = Path(case.local_path(s))
    try:
        # Inside the case folder, a regular file, not followed through a link, and not huge: a case
        # file is someone else's input.
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_LOCAL_TEXT \
                or not path.resolve().is_relative_to(Path(case.folder).resolve()):
            return None
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return None


# The text of a source's newest capture: its text layer, else its OCR text.
LATEST_TEXT = ("SELECT e.text FROM captures c JOIN extractions e ON e.blake3 = c.blake3 WHERE c.source_id = s.id "
               "AND e.text IS NOT NULL ORDER BY c.version DESC, (e.extractor = 'tesseract'), e.id DESC LIMIT 1")


def from_db(db: Any) -> dict[str, tuple[list[ClaimFacts], list[SourceFacts], list[Person]]]:
    """The same facts from the archive's tables, case by case (withdrawn claims left out)."""
    out: dict[str, tuple[list[ClaimFacts], list[SourceFacts], list[Person]]] = {}
    for case in db.query("SELECT id FROM cases ORDER BY id"):
        sources = [SourceFacts(r["slug"] or r["id"], r["published"], r["published_after"], r["first"], bool(r["wanted"]),
                               r["text"], r["family"])
                   for r in db.query(f"SELECT s.*, (SELECT MIN(captured_at) FROM captures c WHERE c.source_id = s.id) AS first, "
                                     f"({LATEST_TEXT}) AS text FROM sources s WHERE case_id = ? ORDER BY s.rowid", [case["id"]])]
        slug = {r["id"]: r["slug"] or r["id"] for r in db.query("SELECT id, slug FROM sources WHERE case_id = ?", [case["id"]])}
        # The case's citations and listed people in one query each, not one per claim.
        cites: dict[str, list[tuple[str, str]]] = {}
        for c in db.query("SELECT ci.claim_id, ci.source_id, ci.quote FROM citations ci JOIN claims cl ON cl.id = ci.claim_id "
                          "WHERE cl.case_id = ? ORDER BY ci.rowid", [case["id"]]):
            cites.setdefault(c["claim_id"], []).append((slug.get(c["source_id"], c["source_id"]), c["quote"] or ""))
        listed: dict[str, list[str]] = {}
        for p in db.query("SELECT cp.claim_id, cp.person_slug FROM claim_persons cp JOIN claims cl ON cl.id = cp.claim_id "
                          "WHERE cl.case_id = ?", [case["id"]]):
            listed.setdefault(p["claim_id"], []).append(p["person_slug"])
        claims = [ClaimFacts(r["slug"] or r["id"], r["text"] or "", r["date"], r["date_note"], tuple(cites.get(r["id"], ())),
                             tuple(listed.get(r["id"], ())))
                  for r in db.query("SELECT * FROM claims WHERE case_id = ? AND withdrawn = 0 ORDER BY rowid", [case["id"]])]
        out[case["id"]] = (claims, sources, people_from_db(db, case["id"]))
    return out


def by_case(db: Any) -> dict[str, list[Finding]]:
    """Every case's findings, case by case."""
    return {case_id: check(*facts) for case_id, facts in from_db(db).items()}


def check_archive(db: Any, per_case: dict[str, list[Finding]] | None = None) -> list[Finding]:
    """Every case's findings; with more than one case, each subject names its case."""
    per_case = by_case(db) if per_case is None else per_case
    return [Finding(f.rule, f"{case_id}: {f.subject}" if len(per_case) > 1 else f.subject, f.detail)
            for case_id, found in per_case.items() for f in found]


def store(db: Any, per_case: dict[str, list[Finding]], checked_at: str) -> None:
    """Replace the table consistency_findings with these findings (derived: rebuilt by every verify)."""
    with db.conn:
        db.execute("DELETE FROM consistency_findings")
        for case_id, found in per_case.items():
            for n, f in enumerate(found, 1):
                kind, _, slug = f.subject.partition(" ")
                db.execute("INSERT INTO consistency_findings (id, case_id, n, rule, kind, ref, subject, state, detail, "
                           "checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [f"{case_id}#{n}", case_id, n, f.rule, kind, f"{case_id}/{slug}", f.subject, f.state,
                            f.detail, checked_at])
