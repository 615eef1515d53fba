"""The database's triggers: tables kept current from others in every connection that writes them (part of `db.ensure_schema`)."""

# Derived from claims.people by triggers, so every way a claim row is written keeps it current.
FOLD_SQL = "replace(replace({}, 'ё', 'е'), 'Ё', 'Е')"  # fold() in plain SQL: triggers run in any connection
CLAIMS_FTS_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS claims_fts_insert AFTER INSERT ON claims BEGIN
         INSERT INTO claims_fts (rowid, text, people)
           VALUES (new.rowid, {FOLD_SQL.format('new.text')}, {FOLD_SQL.format('new.people')});
       END""",
    f"""CREATE TRIGGER IF NOT EXISTS claims_fts_changed AFTER UPDATE OF text, people ON claims
         WHEN old.text IS NOT new.text OR old.people IS NOT new.people BEGIN
         DELETE FROM claims_fts WHERE rowid = old.rowid;
         INSERT INTO claims_fts (rowid, text, people)
           VALUES (new.rowid, {FOLD_SQL.format('new.text')}, {FOLD_SQL.format('new.people')});
       END""",
    """CREATE TRIGGER IF NOT EXISTS claims_fts_delete AFTER DELETE ON claims BEGIN
         DELETE FROM claims_fts WHERE rowid = old.rowid;
       END""",
]
# An upsert names every column, so "UPDATE OF text" fires on each status change too: the WHEN
# clauses keep the index and the people table untouched unless the words themselves changed.
# The triggers of the same names without them (archives made before) are dropped.
REPLACED_TRIGGERS = ("claims_fts_update", "claim_people_update")
CLAIM_PEOPLE_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS claim_people_insert AFTER INSERT ON claims BEGIN
         INSERT INTO claim_people (claim_id, person) SELECT new.id, value FROM json_each(new.people)
           WHERE json_valid(new.people);
       END""",
    """CREATE TRIGGER IF NOT EXISTS claim_people_changed AFTER UPDATE OF people ON claims
         WHEN old.people IS NOT new.people BEGIN
         DELETE FROM claim_people WHERE claim_id = old.id;
         INSERT INTO claim_people (claim_id, person) SELECT new.id, value FROM json_each(new.people)
           WHERE json_valid(new.people);
       END""",
    """CREATE TRIGGER IF NOT EXISTS claim_people_delete AFTER DELETE ON claims BEGIN
         DELETE FROM claim_people WHERE claim_id = old.id;
       END""",
]

# The current drift of each citation follows its history row by row, in any connection that
# writes drift_checks (a run, a replay of the log, an evidence package's database). A finding
# that repeats keeps the date it was first seen; a citation re-anchored or withdrawn starts over
# (and a check made against an earlier anchoring never counts).
DRIFT_TRIGGERS = [
    """CREATE TRIGGER IF NOT EXISTS citation_drift_insert AFTER INSERT ON drift_checks
         WHEN new.anchored_capture_id IS (SELECT capture_id FROM citations WHERE id = new.citation_id) BEGIN
         INSERT INTO citation_drift (citation_id, source_id, finding, since, observed_at, check_id, attempt_id,
                                     capture_id, detail, diff)
           VALUES (new.citation_id, new.source_id, new.finding, new.observed_at, new.observed_at, new.id,
                   new.attempt_id, new.capture_id, new.detail, new.diff)
           ON CONFLICT(citation_id) DO UPDATE SET
             since = CASE WHEN citation_drift.finding = excluded.finding THEN citation_drift.since ELSE excluded.since END,
             finding = excluded.finding, observed_at = excluded.observed_at, check_id = excluded.check_id,
             attempt_id = excluded.attempt_id, capture_id = excluded.capture_id, detail = excluded.detail,
             diff = excluded.diff,
             source_id = excluded.source_id;
       END""",
    """CREATE TRIGGER IF NOT EXISTS citation_drift_reanchored AFTER UPDATE OF capture_id, start, "end" ON citations
         WHEN old.capture_id IS NOT new.capture_id OR old.start IS NOT new.start OR old."end" IS NOT new."end" BEGIN
         DELETE FROM citation_drift WHERE citation_id = old.id;
       END""",
    """CREATE TRIGGER IF NOT EXISTS citation_drift_withdrawn AFTER DELETE ON citations BEGIN
         DELETE FROM citation_drift WHERE citation_id = old.id;
       END""",
]
