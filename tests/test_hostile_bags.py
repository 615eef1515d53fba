"""Hostile evidence packages: zip bombs and zip-slip, paths from the bag's contents that climb out
of it, links and FIFOs, files the signature does not cover, forged rows whose re-extraction must
run in the sandboxed workers, and a failed signature that stops re-extraction. Real bags exported
from a real archive, then altered as an attacker would."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import bagit
import blake3
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_export import STATEMENT_B3, exported  # noqa: F401  (the module-scoped bag fixture)

from ingest.evidence.bagpaths import UnsafeZip, unzip_bag
from ingest.evidence.bagverify import verify_bag
from ingest.evidence.export import checkpoint_statement, resign
from ingest.evidence.signing import sign
from ingest.text.workers import TEST_HOG_TYPE, TEST_HOOKS_ENV, WorkerLimits
from tests.conftest import khronika

LIMITS = WorkerLimits(cpu_seconds=1, wall_seconds=20, memory_bytes=512 * 2**20)


@pytest.fixture
def bag(exported: dict[str, object], tmp_path: Path) -> Path:  # noqa: F811
    target = tmp_path / "bag"
    shutil.copytree(exported["bag"], target)  # type: ignore[arg-type]
    return target


def triples(report) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return {(c.check, c.subject, c.state) for c in report.checks}


def detail(report, check: str, subject: str) -> str:  # type: ignore[no-untyped-def]
    return next(c.detail for c in report.checks if (c.check, c.subject) == (check, subject))


def resave_and_resign(bag: Path) -> str:
    """What an attacker does after editing a bag: regenerate the manifests and sign with a new key."""
    bagit.Bag(str(bag)).save(manifests=True)
    key = Ed25519PrivateKey.generate()
    resign(bag, key)
    from ingest.evidence.signing import fingerprint, raw_public

    return fingerprint(raw_public(key.public_key()))


# -- zips ----------------------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bag/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr("bag/data/zeros", b"\0" * (80 * 2**20))
    size = bomb.stat().st_size
    r = khronika("verify-bag", str(bomb))
    assert r.code == 1
    assert r.out.splitlines()[:2] == [
        "signature: FAILED (the zip was refused before its signature could be read): nothing vouches for this bag",
        f"mismatch     bagit           {bomb}: {bomb}: would expand to {80 * 2**20 + 19} bytes, "
        f"more than 100 times its {size} bytes"]


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(11):
            zf.writestr(f"bag/{i}", b"")
    with pytest.raises(UnsafeZip) as err:
        unzip_bag(many, tmp_path / "out", max_members=10)
    assert str(err.value) == f"{many}: 11 members, more than the 10 allowed"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, why", [
    ("../evil.txt", "'..' in path"),
    ("bag/../../evil.txt", "'..' in path"),
    ("/tmp/evil.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
    ("bag\\..\\evil.txt", "backslash in name"),
])
def test_zip_slip_is_refused(tmp_path: Path, name: str, why: str) -> None:
    z = tmp_path / "slip.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("bag/bagit.txt", "BagIt-Version: 1.0\n")
        zf.writestr(name, b"owned")
    report = verify_bag(z)
    assert [(c.check, c.state, c.detail) for c in report.checks] == [
        ("bagit", "mismatch", f"{z}: unsafe path in zip: {name!r} ({why})")]
    assert report.exit_code() == 1
    assert not (tmp_path.parent / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_a_symbolic_link_in_a_zip_is_refused(tmp_path: Path) -> None:
    z = tmp_path / "link.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("bag/bagit.txt", "BagIt-Version: 1.0\n")
        link = zipfile.ZipInfo("bag/data/files/x")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/hostname")
    assert [c.detail for c in verify_bag(z).checks] == [f"{z}: symbolic link in zip: 'bag/data/files/x'"]


# -- paths from the bag's contents -----------------------------------------------------------------

def test_a_files_row_naming_a_path_outside_the_bag_reads_nothing(bag: Path) -> None:
    con = sqlite3.connect(bag / "data" / "archive.db")
    with con:
        con.execute("UPDATE files SET blake3 = '../../../../etc/hostname' WHERE blake3 = ?", [STATEMENT_B3])
    con.close()
    resave_and_resign(bag)
    report = verify_bag(bag)
    assert detail(report, "fixity", "data/archive.db files '../../../../etc/hostname'") == (
        "a files row whose name is not a BLAKE3 hash (64 hex digits); no file was read for it")
    assert ("fixity", "data/archive.db files '../../../../etc/hostname'", "mismatch") in triples(report)
    assert report.exit_code() == 1


def test_a_signature_naming_a_path_outside_the_bag_reads_nothing(bag: Path) -> None:
    hostname = Path("/etc/hostname")
    statement = checkpoint_statement(bag, "workers-power", "1:x")
    statement["files"]["../../../../etc/hostname"] = hashlib.sha256(hostname.read_bytes()).hexdigest()
    key = Ed25519PrivateKey.generate()
    import json

    (bag / "khronika-signature.json").write_text(json.dumps(sign(statement, key)), "utf-8")
    report = verify_bag(bag)
    assert detail(report, "signature", "../../../../etc/hostname") == (
        "the signature names no file inside the bag: '../../../../etc/hostname' is not a path inside the bag ('..' in path)")
    assert ("signature", "../../../../etc/hostname", "mismatch") in triples(report)
    assert report.exit_code() == 1


def test_files_outside_the_signature_are_each_named(bag: Path, exported: dict[str, object]) -> None:  # noqa: F811
    (bag / "evidence").mkdir()
    (bag / "evidence" / "report.html").write_text("<p>all verified</p>", "utf-8")
    (bag / ".hidden").mkdir()
    (bag / ".hidden" / "x").write_bytes(b"x")
    (bag / "data" / ".extra").write_bytes(b"x")
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    uncovered = {(c.subject, c.state, c.detail) for c in report.checks if c.check == "signature" and c.state != "ok"}
    assert uncovered == {
        (".hidden/x", "mismatch", "file is not covered by the signature (added after signing)"),
        ("evidence/report.html", "mismatch", "file is not covered by the signature (added after signing)"),
        ("data/.extra", "mismatch", "file is not covered by the signature (added after signing)"),
    }
    assert report.headline() == "signature: valid, but the bag differs from what it signed (see the signature checks)"
    assert report.exit_code() == 1


def test_a_link_in_a_bag_folder_is_never_followed(bag: Path) -> None:
    raw = bag / "data" / "files" / STATEMENT_B3
    raw.unlink()
    raw.symlink_to("/etc/hostname")
    (bag / "data" / "outside").symlink_to("/etc")
    report = verify_bag(bag)
    rel = f"data/files/{STATEMENT_B3}"
    assert detail(report, "bagit", rel) == (
        "a symbolic link (to /etc/hostname); a bag holds regular files only, nothing was read through it")
    assert detail(report, "bagit", "data/outside") == (
        "a symbolic link (to /etc); a bag holds regular files only, nothing was read through it")
    assert detail(report, "bagit", "bag") == (
        "the bagit validator was not run: it would follow the links or open the special files named above")
    assert detail(report, "fixity", rel) == f"{rel} is a symbolic link; nothing is read through it"
    assert detail(report, "signature", rel) == (
        f"the signature names no file inside the bag: {rel} is a symbolic link; nothing is read through it")
    assert report.exit_code() == 1


def test_a_fifo_in_a_bag_does_not_hang_verify_bag(bag: Path) -> None:
    text = bag / "data" / "texts" / "2.txt"
    text.unlink()
    os.mkfifo(text)
    r = khronika("verify-bag", str(bag), timeout=120)
    assert r.code == 1
    assert ("mismatch     bagit           data/texts/2.txt: a FIFO; a bag holds regular files only, it was not opened"
            in r.out.splitlines())
    assert "mismatch     text            data/texts/2.txt: data/texts/2.txt is not a regular file" in r.out.splitlines()


# -- re-extraction -------------------------------------------------------------------------------

def _forge_hog(bag_or_files: Path, db_path: Path, file_rel: str) -> str:
    """Add a file the test hook makes misbehave in a worker (it spins) with a forged extraction row."""
    from ingest.text.extract import extractor_for, extractor_versions

    data = b"cpu\n"
    b3 = blake3.blake3(data).hexdigest()
    path = bag_or_files / file_rel.format(b3=b3, sub=b3[:2])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    name = extractor_for(TEST_HOG_TYPE)
    text = "forged text"
    con = sqlite3.connect(db_path)
    with con:
        con.execute("INSERT INTO files (blake3, sha256, size, media_type, path, stored_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [b3, hashlib.sha256(data).hexdigest(), len(data), TEST_HOG_TYPE,
                     file_rel.format(b3=b3, sub=b3[:2]), "2025-01-01T00:00:00Z"])
        con.execute("INSERT INTO extractions (id, blake3, extractor, extractor_version, text, text_blake3, text_length) "
                    "VALUES (99, ?, ?, ?, ?, ?, ?)",
                    [b3, name, extractor_versions().get(name, ""), text, blake3.blake3(text.encode()).hexdigest(), len(text)])
    con.close()
    return b3


def test_verify_bag_reextracts_in_the_sandbox(bag: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    b3 = _forge_hog(bag, bag / "data" / "archive.db", "data/files/{b3}")
    (bag / "data" / "texts" / "99.txt").write_text("forged text", "utf-8")
    resave_and_resign(bag)
    report = verify_bag(bag, limits=LIMITS)
    assert detail(report, "reproducibility", "data/texts/99.txt") == (
        f"re-extracting data/files/{b3} was stopped: exceeded CPU limit of 1 s")
    assert ("reproducibility", "data/texts/99.txt", "unverifiable") in triples(report)
    assert ("reproducibility", "data/texts/2.txt", "ok") in triples(report)


def test_verify_reextracts_in_the_sandbox(exported: dict[str, object], tmp_path: Path,  # noqa: F811
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.checks.verify import verify
    from ingest.store.archive import Archive

    monkeypatch.setenv(TEST_HOOKS_ENV, "1")
    archive = tmp_path / "archive"
    shutil.copytree(exported["archive"], archive)  # type: ignore[arg-type]
    b3 = _forge_hog(archive, archive / "archive.db", "files/{sub}/{b3}")
    with Archive.open(archive) as a:
        report = verify(a, limits=LIMITS)
    found = [c for c in report.checks if c.check == "reproducibility" and c.subject.startswith("extraction 99 ")]
    assert [(c.state, c.detail) for c in found] == [("unverifiable", "re-extraction was stopped: exceeded CPU limit of 1 s")]
    assert found[0].subject == f"extraction 99 of {b3[:16]} (none )"


def test_a_failed_signature_stops_reextraction(bag: Path) -> None:
    sig = bag / "khronika-signature.json"
    sig.write_text(sig.read_text("utf-8").replace('"log_head": "', '"log_head": "9'), "utf-8")
    report = verify_bag(bag)
    assert detail(report, "reproducibility", "data/texts") == (
        "not re-extracted: the signature failed, so no one vouches for these files; "
        "re-extraction runs only for a bag with a valid signature")
    assert [c for c in report.checks if c.check == "reproducibility" and c.state == "ok"] == []
    assert report.headline() == ("signature: FAILED (the signature does not match the signed content (signature file "
                                 "or what it covers altered)): nothing vouches for this bag")
    assert report.exit_code() == 1
