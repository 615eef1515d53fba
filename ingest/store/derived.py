"""Tables and views derived from logged rows by SQL alone (triggers, views), so that every
connection that writes the rows (a run, a replay of the log, an evidence package) keeps them current."""

from __future__ import annotations

_VARIANT_ROWS = """INSERT OR IGNORE INTO person_variants (person_id, key, slug, case_id, text, how, whole)
         SELECT new.id, json_extract(value, '$[1]'), new.slug, new.case_id, json_extract(value, '$[0]'),
                json_extract(value, '$[2]'), json_extract(value, '$[3]')
         FROM json_each(new.variants) WHERE json_valid(new.variants);"""
PERSON_VARIANT_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS person_variants_insert AFTER INSERT ON people BEGIN
         {_VARIANT_ROWS}
       END""",
    f"""CREATE TRIGGER IF NOT EXISTS person_variants_update AFTER UPDATE ON people BEGIN
         DELETE FROM person_variants WHERE person_id = old.id;
         {_VARIANT_ROWS}
       END""",
    """CREATE TRIGGER IF NOT EXISTS person_variants_delete AFTER DELETE ON people BEGIN
         DELETE FROM person_variants WHERE person_id = old.id;
       END""",
]
# Which person each name in a claim's people list is: the person of the claim's case whose id,
# name or alias it is (the case file's validation allows one at most).
CLAIM_PERSONS_VIEW = """CREATE VIEW IF NOT EXISTS claim_persons AS
    SELECT cp.claim_id, cp.person AS written, p.id AS person_id, p.slug AS person_slug
    FROM claim_people cp JOIN claims c ON c.id = cp.claim_id JOIN people p ON p.case_id = c.case_id
    WHERE EXISTS (SELECT 1 FROM json_each(p.names) n WHERE n.value = cp.person)"""
