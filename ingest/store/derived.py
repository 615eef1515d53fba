"""Views derived from logged rows by SQL alone, so that every copy of the database (the archive,
its published copy, an evidence package) answers them the same way; and the tables rebuilt from other rows."""

from __future__ import annotations

from typing import Any

# Tables rebuilt from other rows, never logged: a claim's origins and their links (with its
# status, claims/origins) and the last verify's consistency findings (checks/consistency).
CHECK_TABLES: dict[str, dict[str, Any]] = {
    "claim_origins": dict(
        # Derived (claims/origins, with each claim's status): the claim's supporting sources grouped into origins.
        columns={"id": str, "claim_id": str, "n": int, "sources": str, "outlets": str, "upstream": str},
        pk="id",
    ),
    "origin_links": dict(
        # Derived with claim_origins: why two supporting sources (or a source and an outside origin) are one origin.
        columns={"id": str, "claim_id": str, "n": int, "kind": str, "source_id": str, "other": str, "upstream": str,
                 "score": float, "detail": str},
        pk="id",
    ),
    "consistency_findings": dict(
        # Derived: the consistency warnings of the last verify, rebuilt by every verify (checks/consistency).
        columns={"id": str, "case_id": str, "n": int, "rule": str, "kind": str, "ref": str, "subject": str,
                 "state": str, "detail": str, "checked_at": str},
        pk="id",
    ),
}
CHECK_INDEXES = [("claim_origins", ["claim_id"]), ("origin_links", ["claim_id"]), ("consistency_findings", ["case_id", "n"])]

# Which person each name in a claim's people list is: the person of the claim's case whose id,
# name or alias it is (the case file's validation allows one at most).
CLAIM_PERSONS_VIEW = """CREATE VIEW IF NOT EXISTS claim_persons AS
    SELECT cp.claim_id, cp.person AS written, p.id AS person_id, p.slug AS person_slug
    FROM claim_people cp JOIN claims c ON c.id = cp.claim_id JOIN people p ON p.case_id = c.case_id
    WHERE EXISTS (SELECT 1 FROM json_each(p.names) n WHERE n.value = cp.person)"""
