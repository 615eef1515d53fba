"""Check an evidence package on its own: no network, no archive folder.

Checks, each ending ok, mismatch, missing, unverifiable or drift with a reason (ingest.verify.Check):

    bagit            the `bagit` package's validator (manifests, Payload-Oxum, completeness); links and
                     special files anywhere in the bag (then the validator is not run)
    signature        the Ed25519 signature, and every file anywhere in the bag against the digests it signs
    key              the signing key against a fingerprint published elsewhere (--key-fingerprint);
                     unverifiable without one (exit 5: anyone could have made the bag)
    database         data/archive.db opens and holds exactly one case, the one bag-info names
    case             the case file against the recorded BLAKE3
    fixity           each raw file against its name and its files row (BLAKE3, SHA-256, size)
    warc             each WARC record against its recorded digest, its own WARC digests and its capture
    text             each text file against the recorded text BLAKE3
    reproducibility  each text re-extracted from its raw file in the sandboxed workers, when the installed
                     extractor is the recorded one and the signature is valid
    quote            each citation's exact passage at [start, end) of its text
    log              the log chain (entries of other cases reduced to seq, hash, prev) and the rows it records
    head             bag-info's Khronika-Log-Head against the log's last entry and the signed head
    drift            each citation whose source changed or vanished after its archived copy, as recorded

The bag is hostile input: every path read comes through evidence/bagpaths (confined, no links).
"""

from __future__ import annotations

import json
import re
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ingest.checks import witnessed
from ingest.checks.verify import (
    MISMATCH,
    MISSING,
    OK,
    UNVERIFIABLE,
    Check,
    Report,
    held_drift,
    wanted_gaps,
)
from ingest.evidence import signing
from ingest.evidence.bag import TAG_MANIFESTS, file_digest, read_bag_info, validate_with_bagit
from ingest.evidence.bagcontent import (
    check_log,
    check_quotes,
    check_reproducibility,
    check_texts,
    check_timestamps,
    check_warc,
)
from ingest.evidence.bagpaths import BagPathError, UnsafeZip, every_entry, in_bag, unzip_bag
from ingest.evidence.export import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_FORMAT_1,
    SIGNATURE_FILE,
    case_file_name,
    signed_manifests,
    unsigned_files,
)
from ingest.store.files import hash_file
from ingest.text.workers import WorkerLimits

UNPINNED = "signature: valid, key not pinned: anyone could have made this bag; pass --key-fingerprint"
EXIT_UNPINNED = 5  # every check passed, but nothing says whose key signed the bag
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class BagReport(Report):
    """A verify-bag report, with what the signature shows first (the CLI's and the JSON's first line)."""

    signature: str = "missing"  # valid | altered (valid, but files differ from it) | invalid | missing
    signature_problem: str = ""
    key: str = "not pinned"  # not pinned | pinned | other key
    fingerprint: str = ""

    def headline(self) -> str:
        if self.signature in ("missing", "invalid"):
            return f"signature: FAILED ({self.signature_problem}): nothing vouches for this bag"
        if self.signature == "altered":
            return "signature: valid, but the bag differs from what it signed (see the signature checks)"
        if self.key == "other key":
            return (f"signature: valid, but made with key {self.fingerprint}, not the one given "
                    "with --key-fingerprint: not the publisher's bag")
        if self.key == "not pinned":
            return UNPINNED
        return f"signature: valid, made with the key given with --key-fingerprint ({self.fingerprint})"

    def exit_code(self) -> int:
        code = super().exit_code()
        if code != 1 and self.signature == "valid" and self.key == "not pinned":
            return EXIT_UNPINNED
        return code

    def as_json(self) -> dict[str, Any]:
        return {"result": self.headline(), "signature": self.signature, "key": self.key,
                "key_fingerprint": self.fingerprint or None, **super().as_json()}


def verify_bag(path: Path, key_fingerprint: str | None = None, limits: WorkerLimits | None = None) -> BagReport:
    path = Path(path)
    limits = limits or WorkerLimits()
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory(prefix="khronika-verify-") as tmp:
            try:
                bag = unzip_bag(path, Path(tmp))
            except UnsafeZip as exc:
                return BagReport([Check("bagit", str(path), MISMATCH, str(exc))], [],
                                 signature_problem="the zip was refused before its signature could be read")
            return _verify(bag, key_fingerprint, limits)
    if not path.is_dir():
        return BagReport([Check("bagit", str(path), MISSING, "no such bag folder or zip file")], [],
                         signature_problem="no bag")
    return _verify(path, key_fingerprint, limits)


def normalize_fingerprint(text: str) -> str:
    return text.strip().lower().replace(":", "").replace(" ", "")


def _verify(bag: Path, key_fingerprint: str | None, limits: WorkerLimits) -> BagReport:
    report = BagReport([], [])
    checks = report.checks
    entries = every_entry(bag)
    special = [e for e in entries if e.problem]
    for e in special:
        checks.append(Check("bagit", e.rel, MISMATCH, e.problem or ""))
    try:
        info = read_bag_info(bag) if in_bag(bag, "bag-info.txt") else {}
    except (OSError, BagPathError):
        info = {}
    if special:
        checks.append(Check("bagit", "bag", UNVERIFIABLE, "the bagit validator was not run: it would follow the "
                            "links or open the special files named above"))
    else:
        checks += _check_bagit(bag)
    regular = [e.rel for e in entries if not e.problem]
    signed = _check_signature(bag, info, key_fingerprint, regular, report)
    db = _open_db(bag, checks)
    if db is None:
        return report
    try:
        case = _check_case(bag, db, info, checks)
        intact = _check_files(bag, db, checks, case)
        check_warc(bag, db, checks, case)
        texts = check_texts(bag, db, checks)
        if report.signature in ("valid", "altered"):
            check_reproducibility(bag, db, checks, intact, texts, limits)
        else:
            checks.append(Check("reproducibility", "data/texts", UNVERIFIABLE,
                                "not re-extracted: the signature failed, so no one vouches for these files; "
                                "re-extraction runs only for a bag with a valid signature"))
        report.gaps += wanted_gaps(db)
        report.gaps += check_quotes(db, checks, intact, texts)
        checks += held_drift(db)
        check_log(bag, db, info, signed, checks)
        ots_lines: list[str] = []
        trusted = check_timestamps(bag, db, checks, ots_lines)
        report.witnesses, report.witness_states = witnessed.verify_lines(db, intact)
    finally:
        db.close()
    report.trusted_time, report.ots = trusted, ots_lines
    return report


# -- bag and signature -------------------------------------------------------------------------


def _check_bagit(bag: Path) -> list[Check]:
    problems = list(validate_with_bagit(bag))
    if not problems:
        version = (bag / "bagit.txt").read_text("utf-8", "replace").splitlines()[0]
        return [Check("bagit", "bag", OK, f"the bagit validator accepts the bag ({version})")]
    out = []
    for p in problems:
        state = MISSING if "missing" in p.reason else MISMATCH
        out.append(Check("bagit", p.path or "bag", state, p.reason))
    return out


def _signed_digest(bag: Path, rel: str, algorithm: str = "sha256") -> str | None:
    """The digest of a file the signature names, or None when it is missing; BagPathError when
    the name is not a regular file inside the bag."""
    try:
        return file_digest(in_bag(bag, rel), algorithm)
    except FileNotFoundError:
        return None


def _check_signature(bag: Path, info: dict[str, str], key_fingerprint: str | None, regular: list[str],
                     report: BagReport) -> dict[str, Any] | None:
    """Check the signature and what it covers; return the signed statement when the signature is valid."""
    checks = report.checks
    try:
        path = in_bag(bag, SIGNATURE_FILE)
    except FileNotFoundError:
        checks.append(Check("signature", SIGNATURE_FILE, MISSING, "the bag has no signature file"))
        report.signature, report.signature_problem = "missing", "the bag has no signature file"
        return None
    except BagPathError as exc:
        path, problem = None, str(exc)
    else:
        try:
            doc = json.loads(path.read_bytes())
            problem = None if isinstance(doc, dict) else "not a JSON object"
        except ValueError as exc:
            problem = str(exc)
    if path is None or problem is not None:
        checks.append(Check("signature", SIGNATURE_FILE, MISMATCH, f"not a readable signature document ({problem})"))
        report.signature, report.signature_problem = "invalid", "not a readable signature document"
        return None
    fp = doc.get("key_fingerprint")
    report.fingerprint = str(fp)
    if key_fingerprint is not None:
        wanted = normalize_fingerprint(key_fingerprint)
        if fp == wanted:
            report.key = "pinned"
            checks.append(Check("key", wanted, OK, "the bag is signed by the key with the published fingerprint"))
        else:
            report.key = "other key"
            checks.append(Check("key", wanted, MISMATCH,
                                f"the bag is signed by another key (fingerprint {fp}), not the one published"))
    problem = signing.check(doc)
    if problem is not None:
        checks.append(Check("signature", SIGNATURE_FILE, MISMATCH, problem))
        report.signature, report.signature_problem = "invalid", problem
        return None
    if key_fingerprint is None:
        checks.append(Check("key", str(fp), UNVERIFIABLE, UNPINNED.removeprefix("signature: valid, ")))
    files: dict[str, str] = doc.get("files") if isinstance(doc.get("files"), dict) else {}  # type: ignore[assignment]
    fmt = str(doc.get("format"))
    if fmt not in (CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_1):
        problem = f"signature format {fmt} is not one this version of Khronika can check"
        checks.append(Check("signature", SIGNATURE_FILE, UNVERIFIABLE, problem))
        report.signature, report.signature_problem = "invalid", problem
        return None
    what = "tag" if fmt == CHECKPOINT_FORMAT_1 else "payload"
    # every regular file anywhere in the bag but the signature (and, in format 2, the tag
    # manifests written after it): hidden and extra folders too
    present = set(regular) - unsigned_files(fmt)
    bad = 0
    for rel in sorted(set(files) | present):
        try:
            digest = _signed_digest(bag, rel)
        except BagPathError as exc:
            checks.append(Check("signature", rel, MISMATCH, f"the signature names no file inside the bag: {exc}"))
            bad += 1
            continue
        if rel not in files:
            checks.append(Check("signature", rel, MISMATCH, "file is not covered by the signature (added after signing)"))
        elif digest is None:
            checks.append(Check("signature", rel, MISSING, "signed file is missing from the bag"))
        elif digest != files[rel]:
            checks.append(Check("signature", rel, MISMATCH, "file differs from the signed checkpoint (SHA-256 "
                                f"now {digest}, signed {files[rel]})"))
        else:
            continue
        bad += 1
    for name, alg in signed_manifests(fmt):
        try:
            digest = _signed_digest(bag, name, alg)
        except BagPathError:
            digest = None
        if digest is None or digest != doc.get(name[:-4].replace("-", "_")):
            if name not in files:  # otherwise already named above
                checks.append(Check("signature", name, MISMATCH, "manifest differs from the signed one"))
            bad += 1
    if fmt == CHECKPOINT_FORMAT:
        bad += _check_tag_manifests(bag, regular, checks)
    if doc.get("external_identifier") != info.get("External-Identifier"):
        checks.append(Check("signature", "bag-info.txt", MISMATCH, "External-Identifier differs from the signed case id"))
        bad += 1
    report.signature = "altered" if bad else "valid"
    if not bad:
        checks.append(Check("signature", SIGNATURE_FILE, OK,
                            f"Ed25519 signature valid (key {fp}); it covers both {what} manifests, log head "
                            f"{doc.get('log_head')} and all {len(files)} files, which match"))
    return doc


def _check_tag_manifests(bag: Path, regular: list[str], checks: list[Check]) -> int:
    """Format 2 does not sign the tag manifests, so check that both are there and list every tag
    file (their digests are the bagit validator's to check): removing one is caught as before."""
    wanted = sorted(rel for rel in regular if "/" not in rel and rel not in TAG_MANIFESTS)
    bad = 0
    for name in TAG_MANIFESTS:
        try:
            text = in_bag(bag, name).read_text("utf-8", "replace")
        except FileNotFoundError:
            checks.append(Check("signature", name, MISSING, "tag manifest is missing; it must list every tag file"))
            bad += 1
            continue
        except BagPathError as exc:
            checks.append(Check("signature", name, MISMATCH, str(exc)))
            bad += 1
            continue
        listed = sorted(line.split(None, 1)[1] for line in text.splitlines() if len(line.split(None, 1)) == 2)
        if listed != wanted:
            checks.append(Check("signature", name, MISMATCH,
                                f"lists {', '.join(listed) or 'nothing'}; the tag files are {', '.join(wanted)}"))
            bad += 1
    return bad


# -- database, case, raw files -------------------------------------------------------------------


def _open_db(bag: Path, checks: list[Check]) -> sqlite_utils.Database | None:
    try:
        path = in_bag(bag, "data/archive.db")
    except FileNotFoundError:
        checks.append(Check("database", "data/archive.db", MISSING, "the bag has no database"))
        return None
    except BagPathError as exc:
        checks.append(Check("database", "data/archive.db", MISMATCH, str(exc)))
        return None
    try:
        # immutable: read only, and no journal or lock files written into the bag
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(verdict)
        db = sqlite_utils.Database(conn)
        db.execute("SELECT count(*) FROM cases").fetchone()
    except sqlite3.Error as exc:
        checks.append(Check("database", "data/archive.db", MISMATCH, f"not a readable SQLite database ({exc})"))
        return None
    return db


def _check_case(bag: Path, db: sqlite_utils.Database, info: dict[str, str], checks: list[Check]) -> dict[str, Any] | None:
    cases = list(db.query("SELECT * FROM cases"))
    ident = info.get("External-Identifier")
    if len(cases) != 1 or cases[0]["id"] != ident:
        ids = ", ".join(c["id"] for c in cases) or "none"
        checks.append(Check("database", "data/archive.db", MISMATCH,
                            f"holds case(s) {ids}; bag-info.txt External-Identifier is {ident}"))
        return cases[0] if cases else None
    checks.append(Check("database", "data/archive.db", OK, f"holds the one case {ident}"))
    case = cases[0]
    rel = f"data/case/{case_file_name(case)}"
    try:
        path = in_bag(bag, rel)
    except FileNotFoundError:
        checks.append(Check("case", rel, MISSING, "the case file is missing"))
    except BagPathError as exc:
        checks.append(Check("case", rel, MISMATCH, str(exc)))
    else:
        b3 = hash_file(path)[0]
        if b3 != case["case_file_blake3"]:
            checks.append(Check("case", rel, MISMATCH, f"altered: BLAKE3 is {b3}, recorded {case['case_file_blake3']}"))
        else:
            checks.append(Check("case", rel, OK, "BLAKE3 matches the case file as ingested"))
    return case


def _check_files(bag: Path, db: sqlite_utils.Database, checks: list[Check], case: dict[str, Any] | None) -> set[str]:
    intact: set[str] = set()
    skip = case["case_file_blake3"] if case else None
    rows = [r for r in db.query("SELECT * FROM files ORDER BY blake3") if r["blake3"] != skip]
    for row in rows:
        if not isinstance(row["blake3"], str) or not HEX64.fullmatch(row["blake3"]):
            checks.append(Check("fixity", f"data/archive.db files {row['blake3']!r}", MISMATCH,
                                "a files row whose name is not a BLAKE3 hash (64 hex digits); no file was read for it"))
            continue
        rel = f"data/files/{row['blake3']}"
        try:
            b3, sha, size = hash_file(in_bag(bag, rel))
        except FileNotFoundError:
            checks.append(Check("fixity", rel, MISSING, "raw file is missing"))
            continue
        except BagPathError as exc:
            checks.append(Check("fixity", rel, MISMATCH, str(exc)))
            continue
        if (b3, sha, size) != (row["blake3"], row["sha256"], row["size"]):
            checks.append(Check("fixity", rel, MISMATCH, f"altered: BLAKE3 is now {b3}, SHA-256 {sha}, {size} bytes "
                                f"(recorded {row['sha256']}, {row['size']} bytes)"))
            continue
        intact.add(b3)
        checks.append(Check("fixity", rel, OK, "BLAKE3, SHA-256 and size match"))
    known = {r["blake3"] for r in rows}
    folder = bag / "data" / "files"
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name not in known:
            checks.append(Check("fixity", f"data/files/{path.name}", MISMATCH, "file that no files row accounts for"))
    return intact
