"""A run's claim phase for one case: claims, status and drift brought up to date (`record`), and what changed (`collect`).

`claim_phase` calls `record` for every case, then the visibility stage (which may change a
claim's status), then `mark_done` and `collect`, so that what the run's summary says includes
visibility.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from ingest.claims import drift
from ingest.claims.cases import Case
from ingest.claims.recording import record_people
from ingest.claims.status import record_claims
from ingest.store import db as dbm
from ingest.store.archive import Archive
from ingest.store.files import blake3_of


@dataclass
class Standing:
    counts: dict[str, int] = field(default_factory=dict)  # claims in force by status
    drift: dict[str, int] = field(default_factory=dict)  # claims in force by drift, "none" left out
    not_sourced: list[tuple[str, str, str]] = field(default_factory=list)  # (claim, status, reason)
    drift_changes: list[tuple[str, str, str, str | None, str | None]] = field(default_factory=list)
    # (claim, drift before, drift now, since, reason)


# Events that cannot change a claim: a run closes its WARC after its claim phase, and without this
# every unchanged re-run after a run that captured something brought all claims up to date again.
NEUTRAL_EVENTS = ("warc_completed",)


def _up_to_date(archive: Archive, case: Case) -> bool:
    """Whether nothing that could change a claim was recorded since the case's claims were last
    brought up to date from this very case file."""
    row = archive.db.execute("SELECT case_file_blake3, log_seq FROM claims_state WHERE case_id = ?", [case.id]).fetchone()
    if row is None or row[0] != blake3_of(case.raw):
        return False
    head = archive.log.head().seq
    if row[1] == head:
        return True
    marks = ", ".join("?" * len(NEUTRAL_EVENTS))
    since, others = archive.db.execute(
        f"SELECT count(*), count(*) FILTER (WHERE event NOT IN ({marks})) FROM log WHERE seq > ?",
        [*NEUTRAL_EVENTS, row[1]]).fetchone()
    return since == head - row[1] and others == 0  # every later entry is in the table, and neutral


def mark_done(archive: Archive, case: Case) -> None:
    """Note the log head the case's claims are now up to date with (after the visibility stage)."""
    with archive.db.conn:
        dbm.upsert(archive.db, "claims_state", {
            "case_id": case.id, "case_file_blake3": blake3_of(case.raw), "log_seq": archive.log.head().seq})


def record(archive: Archive, case: Case, done: Collection[str] = ()) -> bool:
    """Record and anchor the case's claims and check the citations whose sources moved since,
    unless nothing changed since the last time; whether it did (the caller then marks it done)."""
    # Before the check below: an archive made before people were recorded (or whose variant
    # libraries changed) records them even when nothing else changed.
    with archive.batch():
        record_people(archive, case)
    if _up_to_date(archive, case):
        return False
    with archive.batch():
        record_claims(archive, case, done)
        drift.check_citations(archive, case_id=case.id)
    drift.update_claims(archive, case.id)
    return True


def collect(archive: Archive, case: Case, before: dict[str, tuple[str, str | None, str]]) -> Standing:
    """The case's claims by status and drift, which are not sourced, and whose drift changed since `before`
    (`drift.standing` taken before `record`)."""
    out = Standing()
    rows = archive.db.execute(
        "SELECT id, status, status_reason, drift, drift_since, drift_reason FROM claims "
        "WHERE case_id = ? AND withdrawn = 0 ORDER BY id", [case.id]).fetchall()
    for cid, status, reason, now, since, why in rows:
        out.counts[status] = out.counts.get(status, 0) + 1
        now = now or "none"
        if now != "none":
            out.drift[now] = out.drift.get(now, 0) + 1
        if status != "sourced":
            out.not_sourced.append((cid, status, reason))
        was = before.get(cid, ("none", None, None))[0]
        if was != now:
            out.drift_changes.append((cid, was, now, since, why))
    return out


def claim_phase(archive: Archive, cases: list[Case], visibility: str,
                done: Collection[str] = ()) -> tuple[Standing, list[str]]:
    """A run's claim phase for all its cases: record each, judge visibility once for all (one browser
    at most), then what every case's claims stand at, summed; and the visibility stage's notes.
    `done`: the claims this run recorded ahead (status.record_claims)."""
    from ingest.claims.visibility import visibility_stage

    before = {case.id: drift.standing(case.id, archive.db) for case in cases}
    stale = [case for case in cases if record(archive, case, done)]
    notes = visibility_stage(archive, visibility)
    for case in stale:
        mark_done(archive, case)
    total = Standing()
    for case in cases:
        one = collect(archive, case, before[case.id])
        for k, v in one.counts.items():
            total.counts[k] = total.counts.get(k, 0) + v
        for k, v in one.drift.items():
            total.drift[k] = total.drift.get(k, 0) + v
        total.not_sourced += one.not_sourced
        total.drift_changes += one.drift_changes
    return total, notes
