"""Trusted time for the log: timestamp its head at each configured TSA, keep the tokens, check them later.

A timestamp over the head entry's hash shows that every entry up to that one existed no later
than the TSA's `genTime`. Each token (the TSA's whole DER response), the certificates it carries
and the pinned certificate are stored as content-addressed files; a logged `timestamp` event
names the head, the TSA, `genTime`, the serial and the files. The pins are the operator's
choice (`--tsa URL --tsa-cert PEM`), kept in `ARCHIVE/timestamping.json` once given; the web CA
bundle is never trusted for this.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.store import ots
from ingest.store.db import file_known
from ingest.store.files import write_atomic
from ingest.store.log import Head, utcnow
from ingest.store.tsa import (
    TimestampError,
    ask,
    build_request,
    check,
    client_version,
    load_pins,
)

CONFIG = "timestamping.json"
TOKEN_TYPE = "application/timestamp-reply"
OTS_TYPE = "application/vnd.opentimestamps.v1"
PEM_TYPE = "application/x-pem-file"
NOT_STAMPED = "log head {head} not timestamped: no TSA configured (--tsa URL --tsa-cert PEM)"


@dataclass(frozen=True)
class Tsa:
    url: str
    pin: bytes  # PEM: the TSA's certificate, or the trust anchor it must chain to


@dataclass(frozen=True)
class Outcome:
    """One TSA's answer for one head: recorded (a checked token) or an error, never both."""

    tsa: str
    head: Head
    gen_time: str | None = None
    error: str | None = None

    def line(self) -> str:
        if self.error:
            return f"timestamp failed: {self.tsa}: {self.error}; log head {self.head} not timestamped there"
        return f"timestamped  log head {self.head} by {self.tsa}: entries 1–{self.head.seq} existed no later than {self.gen_time}"


def parse_pairs(urls: tuple[str, ...], certs: tuple[str, ...]) -> list[Tsa]:
    """--tsa and --tsa-cert given in pairs, in order."""
    if len(urls) != len(certs):
        raise TimestampError(f"--tsa and --tsa-cert come in pairs: {len(urls)} --tsa, {len(certs)} --tsa-cert")
    out = []
    for url, cert in zip(urls, certs):
        if not url.lower().startswith(("http://", "https://")):
            raise TimestampError(f"--tsa {url!r} is not an http(s) URL")
        try:
            pem = Path(cert).read_bytes()
        except OSError as exc:
            raise TimestampError(f"--tsa-cert {cert}: {exc.strerror or exc}") from None
        try:
            load_pins(pem)  # a bad PEM is refused before anything is asked
        except TimestampError as exc:
            raise TimestampError(f"--tsa-cert {cert}: {exc}") from None
        out.append(Tsa(url, pem))
    return out


def configured(archive: Any, given: list[Tsa], calendars: tuple[str, ...] = ()) -> tuple[list[Tsa], list[str]]:
    """The TSAs and OpenTimestamps calendars to use: those given now (then kept in the archive's
    configuration), else those kept."""
    path = Path(archive.root) / CONFIG
    kept: dict[str, Any] = {}
    if path.is_file():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            tsas = [Tsa(e["url"], archive.store.path(e["pin_blake3"]).read_bytes()) for e in kept.get("tsas", [])]
            cals = [str(c) for c in kept.get("ots_calendars", [])]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise TimestampError(f"{path}: unreadable TSA configuration ({exc}); give --tsa URL --tsa-cert PEM again") from None
    else:
        tsas, cals = [], []
    if given or calendars:
        tsas, cals = (given or tsas), (list(calendars) or cals)
        entries = [{"url": t.url, "pin_blake3": _keep(archive, t.pin, PEM_TYPE)} for t in tsas]
        write_atomic(path, (json.dumps({"tsas": entries, "ots_calendars": cals}, indent=1) + "\n").encode("utf-8"))
    return tsas, cals


def _keep(archive: Any, data: bytes, media_type: str) -> str:
    stored = archive.store.put(data)
    if not file_known(archive.db, stored.blake3):
        archive.record("file_stored", "files", stored.blake3, {
            "blake3": stored.blake3, "sha256": stored.sha256, "size": stored.size,
            "media_type": media_type, "path": stored.relpath, "stored_at": utcnow(),
        })
    return stored.blake3


def is_stamping_write(entry: dict[str, Any]) -> bool:
    """What stamping itself writes (timestamp rows and their files) needs no stamp of its own."""
    row = entry.get("row") or {}
    return entry.get("event") in ("timestamp", "ots_submitted", "ots_upgraded") or (
        entry.get("event") == "file_stored" and row.get("media_type") in (TOKEN_TYPE, PEM_TYPE, OTS_TYPE))


def uncovered(entries: list[dict[str, Any]], covered: int) -> list[int]:
    """Sequence numbers after `covered` that a timestamp still has to cover."""
    return [e["seq"] for e in entries if isinstance(e.get("seq"), int) and e["seq"] > covered
            and not is_stamping_write(e)]


def _entries_after(archive: Any, seq: int) -> list[dict[str, Any]]:
    return [json.loads(r[0]) for r in archive.db.execute("SELECT entry FROM log WHERE seq > ? ORDER BY seq", [seq])]


def needs_stamp(archive: Any) -> Head | None:
    """The head to timestamp, or None when nothing after the last covered head needs it."""
    head = archive.log.head()
    if head.seq == 0:
        return None
    covered = archive.db.execute("SELECT max(coalesce((SELECT max(head_seq) FROM timestamps), 0), "
                                 "coalesce((SELECT max(head_seq) FROM ots_proofs), 0))").fetchone()[0]
    # Read lazily, stopping at the first entry a timestamp must cover: an archive never stamped
    # would otherwise have its whole log parsed on every run.
    rows = archive.db.execute("SELECT entry FROM log WHERE seq > ? ORDER BY seq", [covered])
    return head if any(uncovered([json.loads(r[0])], covered) for r in rows) else None


def stamp(archive: Any, tsas: list[Tsa], ask_tsa: Callable[[str, bytes], bytes] = ask) -> list[Outcome]:
    """Ask every TSA for a timestamp over the current head; record each checked token."""
    head = archive.log.head()
    outcomes = []
    for tsa in tsas:
        digest = bytes.fromhex(head.hash)
        request, nonce = build_request(digest)
        try:
            token = ask_tsa(tsa.url, request)
            info = check(token, digest, load_pins(tsa.pin), nonce)
        except TimestampError as exc:
            outcomes.append(Outcome(tsa.url, head, error=str(exc)))
            continue
        row = {
            "id": archive.db.execute("SELECT coalesce(max(id), 0) + 1 FROM timestamps").fetchone()[0],
            "head_seq": head.seq, "head_hash": head.hash, "tsa_url": tsa.url, "signer": info.signer,
            "gen_time": info.gen_time, "serial": info.serial, "policy": info.policy, "nonce": str(nonce),
            "token_blake3": _keep(archive, token, TOKEN_TYPE),
            "chain_blake3": _keep(archive, info.chain_pem, PEM_TYPE) if info.chain_pem else None,
            "pin_blake3": _keep(archive, tsa.pin, PEM_TYPE), "client": client_version(), "requested_at": utcnow(),
        }
        archive.record("timestamp", "timestamps", str(row["id"]), row)
        outcomes.append(Outcome(tsa.url, head, gen_time=info.gen_time))
    return outcomes


# -- checking recorded tokens ----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What one recorded token proves, or why it proves nothing."""

    subject: str
    state: str  # ok | mismatch | missing
    detail: str
    covers: int = 0  # for ok: the last log entry the token covers


def check_recorded(rows: list[dict[str, Any]], entry_hash: Callable[[int], str | None],
                   read_file: Callable[[str], bytes | None]) -> list[Finding]:
    """Check every recorded token against the log and its pin; works on an archive or a bag."""
    findings = []
    previous: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r["head_seq"], r["id"])):
        subject = f"timestamp {row['id']} ({row['tsa_url']})"
        token, pin = read_file(row["token_blake3"]), read_file(row["pin_blake3"])
        if token is None or pin is None:
            findings.append(Finding(subject, "missing", "the token or the pinned certificate file is missing"))
            continue
        logged = entry_hash(row["head_seq"])
        if logged is None or logged != row["head_hash"]:
            findings.append(Finding(subject, "mismatch",
                                    f"log entry {row['head_seq']} has hash {logged}, the token was asked for {row['head_hash']}"))
            continue
        try:
            info = check(token, bytes.fromhex(row["head_hash"]), load_pins(pin), int(row["nonce"]))
        except TimestampError as exc:
            findings.append(Finding(subject, "mismatch", str(exc)))
            continue
        if info.gen_time != row["gen_time"] or info.serial != row["serial"]:
            findings.append(Finding(subject, "mismatch", f"the token says genTime {info.gen_time}, serial {info.serial}; "
                                    f"the row says {row['gen_time']}, {row['serial']}"))
            continue
        earlier = previous.get(row["tsa_url"])
        if earlier and info.gen_time < earlier:
            findings.append(Finding(subject, "mismatch", f"genTime {info.gen_time} is before the previous checkpoint's "
                                    f"{earlier} at the same TSA, though it covers a later head"))
            continue
        previous[row["tsa_url"]] = info.gen_time
        findings.append(Finding(subject, "ok", f"entries 1–{row['head_seq']} existed no later than {info.gen_time} "
                                f"(TSA {info.signer}, serial {info.serial})", covers=row["head_seq"]))
    return findings


def earliest_cover(db: Any, seq: int) -> dict[str, Any] | None:
    """The earliest recorded timestamp covering log entry `seq` (for 'captured no later than …')."""
    rows = list(db.query("SELECT gen_time, signer, tsa_url, head_seq FROM timestamps WHERE head_seq >= ? "
                         "ORDER BY gen_time, id LIMIT 1", [seq]))
    return rows[0] if rows else None


def check_archive(archive: Any) -> list[Finding]:
    """check_recorded over an archive: hashes from its log table, files from its store."""
    return check_recorded(list(archive.db.query("SELECT * FROM timestamps ORDER BY id")), *_archive_reader(archive))


def _archive_reader(archive: Any) -> tuple[Callable[[int], str | None], Callable[[str], bytes | None]]:
    hashes = dict(archive.db.execute("SELECT seq, hash FROM log").fetchall())

    def read(blake3: str | None) -> bytes | None:
        path = archive.store.path(blake3) if blake3 else None
        return path.read_bytes() if path is not None and path.is_file() else None

    return hashes.get, read


def archive_ots(archive: Any) -> tuple[list[Finding], list[str]]:
    return check_ots(list(archive.db.query("SELECT * FROM ots_proofs ORDER BY id")), *_archive_reader(archive))


def archive_coverage(archive: Any, findings: list[Finding]) -> str:
    return coverage(findings, lambda n: uncovered(_entries_after(archive, n), n))


def coverage(findings: list[Finding], later: Callable[[int], list[int]]) -> str:
    """One line: what the checked tokens prove about the log; `later(n)` lists what comes after n uncovered."""
    good = [f for f in findings if f.state == "ok"]
    if not good:
        return ("trusted time: no checked timestamp covers the log; its times are this machine's clock "
                "(python -m ingest timestamp --tsa URL --tsa-cert PEM)")
    best = max(good, key=lambda f: f.covers)
    rest = later(best.covers)
    tail = f"; {len(rest)} later entries (up to {rest[-1]}) are covered by no timestamp yet" if rest else ""
    return f"trusted time: {best.detail}{tail}"


def stamp_after(archive: Any, tsas: list[Tsa], offline: bool = False,
                calendars: list[str] | None = None) -> tuple[list[str], bool]:
    """After a command that appended to the log: timestamp the new head, or say why not.

    Returns the lines to show and whether the head is now covered by every TSA asked."""
    head = needs_stamp(archive)
    if head is None:
        return [], True
    if not tsas and not calendars:
        return [NOT_STAMPED.format(head=head)], False
    if offline:
        return [f"log head {head} not timestamped: --offline (run python -m ingest timestamp later)"], False
    outcomes = stamp(archive, tsas)
    lines = [o.line() for o in outcomes]
    ok = all(o.error is None for o in outcomes)
    for calendar in calendars or []:
        try:
            proof = ots.submit(calendar, head.hash)
        except ots.OtsError as exc:
            lines.append(f"opentimestamps failed: {calendar}: {exc}")
            ok = False
            continue
        row = {"id": archive.db.execute("SELECT coalesce(max(id), 0) + 1 FROM ots_proofs").fetchone()[0],
               "head_seq": head.seq, "head_hash": head.hash, "calendar": calendar,
               "proof_blake3": _keep(archive, proof, OTS_TYPE), "state": "pending",
               "submitted_at": utcnow(), "upgraded_at": None}
        archive.record("ots_submitted", "ots_proofs", str(row["id"]), row)
        lines.append(f"opentimestamps: log head {head} submitted to {calendar}: pending (python -m ingest timestamp --upgrade later)")
    return lines, ok


def upgrade_pending(archive: Any) -> tuple[list[str], bool]:
    """Ask the calendars of every pending proof for its path to a block; keep each upgraded proof."""
    lines, ok = [], True
    for row in list(archive.db.query("SELECT * FROM ots_proofs WHERE state = 'pending' ORDER BY id")):
        path = archive.store.path(row["proof_blake3"])
        try:
            upgraded = ots.upgrade(path.read_bytes())
            reading = ots.describe(upgraded, row["head_hash"]) if upgraded else None
        except (OSError, ots.OtsError) as exc:
            lines.append(f"opentimestamps failed: proof {row['id']} ({row['calendar']}): {exc}")
            ok = False
            continue
        if upgraded is None or reading is None or not reading.blocks:
            lines.append(f"opentimestamps: proof {row['id']} ({row['calendar']}) still pending")
            continue
        new = dict(row, proof_blake3=_keep(archive, upgraded, OTS_TYPE), state="attested", upgraded_at=utcnow())
        archive.record("ots_upgraded", "ots_proofs", str(row["id"]), new)
        lines.append(f"opentimestamps: proof {row['id']} upgraded: " + reading.line(row["head_seq"]).split(": ", 1)[1])
    return lines or ["opentimestamps: no pending proof"], ok


def check_ots(rows: list[dict[str, Any]], entry_hash: Callable[[int], str | None],
              read_file: Callable[[str], bytes | None]) -> tuple[list[Finding], list[str]]:
    """Proofs that cannot be read or cover another digest are findings; what a readable proof says is
    a line, never an ok: its Bitcoin block header is not checked here."""
    findings, lines = [], []
    for row in rows:
        subject = f"opentimestamps proof {row['id']} ({row['calendar']})"
        proof = read_file(row["proof_blake3"])
        if proof is None:
            findings.append(Finding(subject, "missing", "the proof file is missing"))
            continue
        logged = entry_hash(row["head_seq"])
        if logged != row["head_hash"]:
            findings.append(Finding(subject, "mismatch", f"log entry {row['head_seq']} has hash {logged}, "
                                    f"the proof was made for {row['head_hash']}"))
            continue
        try:
            lines.append(ots.describe(proof, row["head_hash"]).line(row["head_seq"]))
        except ots.OtsError as exc:
            findings.append(Finding(subject, "mismatch", str(exc)))
    return findings, lines
