"""The consistency rule `person-unlisted`: a quote names a person the case knows whom the claim does not list.

A hint, never a merge: a variant is a search key (claims/people), and a namesake reads the same,
so the finding says which words named whom and leaves the claim's people as the case file wrote
them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from ingest.claims.people import Mention, Person


def unlisted(quotes: Sequence[str], listed: set[str], find: Callable[[str], list[Mention]]) -> list[tuple[Person, str]]:
    """(person, the words that named them) for each known person a quote names who is not in
    `listed` (person ids), first mention only, in the order they are named; `find` is the case's
    claims/people.mention_finder, made once for all its claims."""
    out: dict[str, tuple[Person, str]] = {}
    for quote in quotes:
        for m in find(quote):
            if m.person.id not in listed and m.person.id not in out:
                out[m.person.id] = (m.person, quote[m.start:m.end])
    return list(out.values())


def people_from_db(db: Any, case_id: str) -> list[Person]:
    """A case's people as its logged rows give them."""
    return [Person(id=r["slug"], name=r["name"], line=0, aliases=tuple(json.loads(r["aliases"] or "[]")),
                   role=r["role"], declared=bool(r["declared"]))
            for r in db.query("SELECT * FROM people WHERE case_id = ? ORDER BY rowid", [case_id])]
