"""The site search's filters (case, source kind, dates) as SQL conditions, each checked first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.claims.cases import SOURCE_KINDS
from ingest.claims.validate import SLUG, valid_date

# A partial date (2025, 2025-05), a bound's or a claim's, stands for its whole period: the two are
# compared on the parts both have, so a period passes a bound it reaches.
_AFTER = "substr({d}, 1, min(length({d}), length(:since))) >= substr(:since, 1, min(length({d}), length(:since)))"
_BEFORE = "substr({d}, 1, min(length({d}), length(:until))) <= substr(:until, 1, min(length({d}), length(:until)))"


@dataclass(frozen=True)
class Filters:
    case: str | None = None
    kind: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def any(self) -> bool:
        return any((self.case, self.kind, self.since, self.until))

    def params(self) -> dict[str, Any]:
        return {"case": self.case, "kind": self.kind, "since": self.since, "until": self.until}

    def documents(self) -> str:
        """Extraction ids (as a subquery) of files captured for a source that passes the filters.
        A source's date is its `published` date; one known only as `published_after` passes `since`
        (it may be later) and is compared on that date for `until`; a source with neither passes no
        date filter."""
        d, after = "s.published", "s.published_after"
        conds = []
        if self.case:
            conds.append("s.case_id = :case")
        if self.kind:
            conds.append("s.kind = :kind")
        if self.since:
            conds.append(f"({d} IS NOT NULL AND {_AFTER.format(d=d)} OR {d} IS NULL AND {after} IS NOT NULL)")
        if self.until:
            conds.append(f"coalesce({d}, {after}) IS NOT NULL AND {_BEFORE.format(d=f'coalesce({d}, {after})')}")
        return ("SELECT e.id FROM extractions e JOIN captures c ON c.blake3 = e.blake3 "
                "JOIN sources s ON s.id = c.source_id WHERE " + " AND ".join(conds))

    def claims(self) -> str:
        """Claim rowids (as a subquery) that pass: the claim's case, a cited source of the kind, the
        claim's own date (an undated claim passes no date filter)."""
        conds = []
        if self.case:
            conds.append("cl.case_id = :case")
        if self.kind:
            conds.append("EXISTS (SELECT 1 FROM citations ci JOIN sources s ON s.id = ci.source_id "
                         "WHERE ci.claim_id = cl.id AND s.kind = :kind)")
        if self.since:
            conds.append(f"cl.date IS NOT NULL AND {_AFTER.format(d='cl.date')}")
        if self.until:
            conds.append(f"cl.date IS NOT NULL AND {_BEFORE.format(d='cl.date')}")
        return "SELECT cl.rowid FROM claims cl WHERE " + " AND ".join(conds)

    def described(self) -> str:
        parts = [f"case {self.case}" if self.case else "", f"sources of kind {self.kind}" if self.kind else "",
                 f"from {self.since}" if self.since else "", f"until {self.until}" if self.until else ""]
        return ", ".join(p for p in parts if p)


def read_filters(args: Any) -> tuple[Filters, list[str]]:
    """The filters a request asks for, and what is wrong with any of them (each then left out)."""
    problems: list[str] = []
    values: dict[str, str | None] = {}
    for name in ("case", "kind", "since", "until"):
        raw = (args.get(name) or "").strip()[:100]
        values[name] = raw or None
    if values["case"] and not SLUG.match(values["case"]):
        problems.append(f'case: "{values["case"]}" is not a case id')
        values["case"] = None
    if values["kind"] and values["kind"] not in SOURCE_KINDS:
        problems.append(f'kind: "{values["kind"]}" is not one of: {", ".join(SOURCE_KINDS)}')
        values["kind"] = None
    for name in ("since", "until"):
        if values[name] and not valid_date(values[name] or "", True):
            problems.append(f'{name}: "{values[name]}" is not a date (YYYY-MM-DD, YYYY-MM or YYYY)')
            values[name] = None
    return Filters(**values), problems
