"""Views derived from logged rows by SQL alone, so that every copy of the database (the archive,
its published copy, an evidence package) answers them the same way."""

from __future__ import annotations

# Which person each name in a claim's people list is: the person of the claim's case whose id,
# name or alias it is (the case file's validation allows one at most).
CLAIM_PERSONS_VIEW = """CREATE VIEW IF NOT EXISTS claim_persons AS
    SELECT cp.claim_id, cp.person AS written, p.id AS person_id, p.slug AS person_slug
    FROM claim_people cp JOIN claims c ON c.id = cp.claim_id JOIN people p ON p.case_id = c.case_id
    WHERE EXISTS (SELECT 1 FROM json_each(p.names) n WHERE n.value = cp.person)"""
