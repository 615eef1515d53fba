"""Evidence packages: export the default case from a real archive, check it, tamper with it."""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import bagit
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.evidence.bagverify import EXIT_UNPINNED, UNPINNED, verify_bag
from ingest.evidence.export import resign
from ingest.evidence.signing import fingerprint, raw_public
from conftest import ROOT, khronika, query

CASE = "workers-power"
STATEMENT_B3 = "77ec5b6c21335dde4704c9ffd284a08f78d6af07d7104a9f16316287f9b658c6"
CASE_FILE_B3 = "d452447bda2ab46aabeb28489eeebdebf6fff805f52f060e1964aa7134699663"
RAW = f"data/files/{STATEMENT_B3}"
OTHER_CASE = """\
case:
  id: "other-case"
  title: "Another case"
  description: "A second case whose rows must not appear in the first case's package."
sources:
  - id: "note"
    path: "other/note.txt"
    title: "A note"
    kind: "statement"
    outlet: "test"
    language: "en"
claims:
  - id: "note-claim"
    text: "The note says something."
    type: "statement"
    citations:
      - source: "note"
        quote: "private detail of the other case"
        stance: "supports"
"""
NOTE = b"This note holds a private detail of the other case, kept apart.\n"
# 29 quotes, 2 log (chain, rows), and one each of bagit, key, signature, database, case, fixity, warc, text,
# reproducibility, head.
ALL_OK = {"ok": 41, "mismatch": 0, "missing": 0, "unverifiable": 0, "drift": 0}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A real archive (default case plus a second case), and the default case exported as a bag and a zip."""
    tmp = tmp_path_factory.mktemp("export")
    work = tmp / "work"
    shutil.copytree(ROOT / "cases", work / "cases")
    (work / "cases" / "other.yml").write_text(OTHER_CASE, "utf-8")
    (work / "cases" / "other").mkdir()
    (work / "cases" / "other" / "note.txt").write_bytes(NOTE)
    archive = tmp / "archive"
    ran = khronika("run", "--archive", str(archive), cwd=work)
    assert ran.code == 0, ran.err
    out = khronika("export", CASE, "--archive", str(archive), "--out", str(tmp / "bag"), "--zip",
                   "--organization", "Test Org", "--contact", "Jane Doe <jane@example.org>")
    assert out.code == 0, out.err
    fp = next(line.split()[-1] for line in out.out.splitlines() if line.startswith("key fingerprint "))
    head = next(line.split()[-1] for line in out.out.splitlines() if line.startswith("log head "))
    return {"archive": archive, "bag": tmp / "bag", "zip": tmp / "bag.zip", "fp": fp, "head": head, "out": out.out}


@pytest.fixture
def bag(exported: dict[str, object], tmp_path: Path) -> Path:
    """A fresh copy of the exported bag to tamper with."""
    target = tmp_path / "bag"
    shutil.copytree(exported["bag"], target)  # type: ignore[arg-type]
    return target


def triples(report) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return {(c.check, c.subject, c.state) for c in report.checks}


def test_export_prints_fingerprint_and_writes_bag(exported: dict[str, object]) -> None:
    archive: Path = exported["archive"]  # type: ignore[assignment]
    bag: Path = exported["bag"]  # type: ignore[assignment]
    key = archive / "keys" / "ed25519.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert len(exported["fp"]) == 64  # type: ignore[arg-type]
    signature = json.loads((bag / "khronika-signature.json").read_text("utf-8"))
    assert signature["key_fingerprint"] == exported["fp"]
    assert signature["log_head"] == exported["head"]
    seq, digest = query(archive / "archive.db", "SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1")[0]
    assert exported["head"] == f"{seq}:{digest}"
    # the private key never goes into the bag
    assert not any(b"PRIVATE KEY" in p.read_bytes() for p in bag.rglob("*") if p.is_file())
    assert sorted(p.relative_to(bag).as_posix() for p in bag.rglob("*") if p.is_file()) == sorted([
        "bag-info.txt", "bagit.txt", "khronika-signature.json", "manifest-sha256.txt", "manifest-sha512.txt",
        "tagmanifest-sha256.txt", "tagmanifest-sha512.txt", "data/archive.db", "data/case/workers-power.yml",
        RAW, "data/log.jsonl", "data/report.html", "data/texts/2.txt", "data/warc/workers-power.warc.gz",
    ])
    info = (bag / "bag-info.txt").read_text("utf-8")
    for line in ("Source-Organization: Test Org", "Contact-Name: Jane Doe", "Contact-Email: jane@example.org",
                 f"External-Identifier: {CASE}", f"Khronika-Log-Head: {exported['head']}", "Bag-Software-Agent: Khronika 0.1.0"):
        assert line + "\n" in info
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    # every tag file, the signature included, is in both tag manifests (RFC 8493 section 2.2.1)
    for alg in ("sha256", "sha512"):
        listed = [line.split("  ", 1)[1] for line in (bag / f"tagmanifest-{alg}.txt").read_text().splitlines()]
        assert listed == ["bag-info.txt", "bagit.txt", "khronika-signature.json", "manifest-sha256.txt",
                          "manifest-sha512.txt"]
    assert signature["format"] == "khronika-checkpoint/2"
    assert sorted(k for k in signature if k.startswith(("manifest", "tagmanifest"))) == ["manifest_sha256", "manifest_sha512"]
    assert "khronika-signature.json" not in signature["files"] and "tagmanifest-sha256.txt" not in signature["files"]
    # the case file as ingested, byte for byte
    assert (bag / "data/case/workers-power.yml").read_bytes() == (ROOT / "cases/workers-power.yml").read_bytes()
    assert (bag / RAW).read_bytes() == (ROOT / "cases/workers-power/statement.txt").read_bytes()


def test_bag_holds_this_case_only(exported: dict[str, object]) -> None:
    bag: Path = exported["bag"]  # type: ignore[assignment]
    db = bag / "data" / "archive.db"
    assert query(db, "SELECT id FROM cases") == [(CASE,)]
    assert query(db, "SELECT count(*) FROM sources") == [(9,)]
    assert query(db, "SELECT count(*), count(DISTINCT claim_id) FROM citations") == [(29, 20)]
    assert query(db, "SELECT blake3 FROM files ORDER BY blake3") == [(STATEMENT_B3,), (CASE_FILE_B3,)]
    warc_name = query(db, "SELECT warc_file FROM captures WHERE id = 2")[0][0]
    assert query(db, "SELECT refers_to, ref_key, warc_type, target_uri FROM bag_warc_records ORDER BY n") == [
        ("warcinfo", warc_name, "warcinfo", None),
        ("captures", "2", "resource", "urn:khronika:case/workers-power/workers-power/statement.txt")]
    for p in bag.rglob("*"):
        if p.is_file() and p.suffix != ".gz":
            assert b"private detail" not in p.read_bytes(), p
            assert b"other-case" not in p.read_bytes(), p
    lines = [json.loads(line) for line in (bag / "data/log.jsonl").read_bytes().splitlines()]
    reduced = [e for e in lines if set(e) == {"seq", "hash", "prev"}]
    full = [e for e in lines if "event" in e]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert len(full) == 74  # the default case's entries, all of them (9 of them people)
    assert len(reduced) == 9 and len(lines) == 83  # the other case's entries, bare
    assert f"{lines[-1]['seq']}:{lines[-1]['hash']}" == exported["head"]
    # the WARC holds this case's record only, copied byte for byte
    assert b"note.txt" not in __import__("gzip").decompress((bag / "data/warc/workers-power.warc.gz").read_bytes())


def test_untouched_bag_is_all_ok(exported: dict[str, object]) -> None:
    bag: Path = exported["bag"]  # type: ignore[assignment]
    b = bagit.Bag(str(bag))
    b.validate()
    assert b.version_info == (1, 0)
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert report.counts() == ALL_OK
    assert report.exit_code() == 0
    assert ("key", exported["fp"], "ok") in triples(report)
    assert ("reproducibility", "data/texts/2.txt", "ok") in triples(report)
    assert ("quote", f"citation {CASE}/uvarov-installation#1", "ok") in triples(report)


def test_cli_verify_bag_on_zip(exported: dict[str, object]) -> None:
    r = khronika("verify-bag", str(exported["zip"]), "--key-fingerprint", str(exported["fp"]), "--json")
    assert r.code == 0, r.out + r.err
    assert json.loads(r.out)["counts"] == ALL_OK
    pinned = khronika("verify-bag", str(exported["bag"]), "--key-fingerprint", str(exported["fp"]))
    assert pinned.code == 0
    assert pinned.out.splitlines()[0] == f"signature: valid, made with the key given with --key-fingerprint ({exported['fp']})"
    assert "41 checks: 41 ok, 0 mismatch, 0 missing, 0 unverifiable, 0 drift. 8 gap(s) (wanted sources)." in pinned.out


def test_without_a_fingerprint_the_key_is_not_pinned(exported: dict[str, object]) -> None:
    """A valid signature by an unpinned key is said first, and exits 5, not 0."""
    plain = khronika("verify-bag", str(exported["bag"]))
    assert plain.code == EXIT_UNPINNED == 5
    lines = plain.out.splitlines()
    assert lines[0] == "signature: valid, key not pinned: anyone could have made this bag; pass --key-fingerprint"
    assert lines[1] == (f"unverifiable key             {exported['fp']}: key not pinned: anyone could have made "
                        "this bag; pass --key-fingerprint")
    assert "41 checks: 40 ok, 0 mismatch, 0 missing, 1 unverifiable, 0 drift. 8 gap(s) (wanted sources)." in plain.out
    as_json = json.loads(khronika("verify-bag", str(exported["bag"]), "--json").out)
    assert {k: as_json[k] for k in ("result", "signature", "key", "key_fingerprint", "counts")} == {
        "result": UNPINNED, "signature": "valid", "key": "not pinned", "key_fingerprint": exported["fp"],
        "counts": {"ok": 40, "mismatch": 0, "missing": 0, "unverifiable": 1, "drift": 0}}


def _flip(rel: str, find: bytes, index: int = 0) -> Callable[[Path], None]:
    """Change one byte: the byte at `index` within the first occurrence of `find` (XOR 0x01)."""
    def tamper(bag: Path) -> None:
        path = bag / rel
        data = bytearray(path.read_bytes())
        at = data.find(find) if find else len(data) // 2
        assert at >= 0, (rel, find)
        data[at + index] ^= 0x01
        path.write_bytes(bytes(data))
    return tamper


def _resign_byte(bag: Path) -> None:
    path = bag / "khronika-signature.json"
    text = path.read_text("utf-8")
    at = text.index('"signature": "') + len('"signature": "')
    path.write_text(text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:], "utf-8")


# (what is tampered, how, the checks that must name it, in both the untouched-manifest and regenerated cases)
TAMPERS: dict[str, tuple[Callable[[Path], None], str, set[tuple[str, str, str]]]] = {
    "raw file": (_flip(RAW, b"Uvarov"), RAW, {
        ("fixity", RAW, "mismatch"), ("signature", RAW, "mismatch"),
        ("reproducibility", "data/texts/2.txt", "unverifiable"),
        ("quote", f"citation {CASE}/uvarov-installation#1", "mismatch")}),
    "text": (_flip("data/texts/2.txt", b"Uvarov"), "data/texts/2.txt", {
        ("text", "data/texts/2.txt", "mismatch"), ("signature", "data/texts/2.txt", "mismatch"),
        ("quote", f"citation {CASE}/uvarov-installation#1", "mismatch")}),
    "warc": (_flip("data/warc/workers-power.warc.gz", b""), "data/warc/workers-power.warc.gz", {
        ("warc", "data/warc/workers-power.warc.gz", "mismatch"),
        ("signature", "data/warc/workers-power.warc.gz", "mismatch")}),
    "case file": (_flip("data/case/workers-power.yml", b"Uvarov"), "data/case/workers-power.yml", {
        ("case", "data/case/workers-power.yml", "mismatch"), ("signature", "data/case/workers-power.yml", "mismatch")}),
    "archive.db": (_flip("data/archive.db", b"Uvarov"), "data/archive.db", {
        ("signature", "data/archive.db", "mismatch")}),
    "log": (_flip("data/log.jsonl", b'"event":"capture"', len('"event":"')), "data/log.jsonl", {
        ("log", "data/log.jsonl entry 19", "mismatch"), ("signature", "data/log.jsonl", "mismatch")}),
    "report": (_flip("data/report.html", b"<mark>", len("<mark>")), "data/report.html", {
        ("signature", "data/report.html", "mismatch")}),
    "bag-info": (_flip("bag-info.txt", b"Source-Organization: Test Org", len("Source-Organization: ")), "bag-info.txt", {
        ("signature", "bag-info.txt", "mismatch")}),
    "signature": (_resign_byte, "khronika-signature.json", {
        ("signature", "khronika-signature.json", "mismatch")}),
}


@pytest.mark.parametrize("regenerate", [False, True], ids=["manifests-stale", "manifests-regenerated"])
@pytest.mark.parametrize("target", list(TAMPERS))
def test_tampering_is_detected_and_named(bag: Path, exported: dict[str, object], target: str, regenerate: bool) -> None:
    tamper, rel, expected = TAMPERS[target]
    tamper(bag)
    if regenerate:
        b = bagit.Bag(str(bag))
        b.save(manifests=True)
        bagit.Bag(str(bag)).validate()  # the manifests now agree with the altered bag
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    found = triples(report)
    assert expected <= found, sorted(found - {t for t in found if t[2] == "ok"})
    assert report.exit_code() == 1
    if regenerate:
        assert ("bagit", "bag", "ok") in found  # only the signature and the cross-checks can catch it now
    else:  # every file, the signature too, is in a manifest
        assert ("bagit", rel, "mismatch") in found
    if target == "signature":
        detail = next(c.detail for c in report.checks if c.check == "signature" and c.subject == "khronika-signature.json")
        assert detail == "the signature does not match the signed content (signature file or what it covers altered)"
    if target == "log":
        detail = next(c.detail for c in report.checks if c.subject == "data/log.jsonl entry 19")
        assert detail == "content does not match its hash (entry edited)"


def test_resigned_bag_fails_only_with_fingerprint(bag: Path, exported: dict[str, object]) -> None:
    other = Ed25519PrivateKey.generate()
    other_fp = fingerprint(raw_public(other.public_key()))
    resign(bag, other)
    alone = verify_bag(bag)
    assert alone.exit_code() == EXIT_UNPINNED
    assert alone.counts() == dict(ALL_OK, ok=40, unverifiable=1)
    assert ("key", other_fp, "unverifiable") in triples(alone)
    assert alone.headline() == UNPINNED
    r = khronika("verify-bag", str(bag))
    assert (r.code, r.out.splitlines()[0]) == (5, UNPINNED)
    pinned = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert pinned.exit_code() == 1
    assert ("key", exported["fp"], "mismatch") in triples(pinned)
    r = khronika("verify-bag", str(bag), "--key-fingerprint", str(exported["fp"]))
    assert r.code == 1
    assert r.out.splitlines()[0] == (f"signature: valid, but made with key {other_fp}, not the one given with "
                                     "--key-fingerprint: not the publisher's bag")
    assert (f"mismatch     key             {exported['fp']}: the bag is signed by another key "
            f"(fingerprint {other_fp}), not the one published") in r.out


def test_report_opens_from_disk_without_scripts(exported: dict[str, object]) -> None:
    bag: Path = exported["bag"]  # type: ignore[assignment]
    archive: Path = exported["archive"]  # type: ignore[assignment]
    page = (bag / "data/report.html").read_text("utf-8")
    lower = page.lower()
    assert "<script" not in lower and "javascript:" not in lower and " on" + "load=" not in lower
    assert "<link" not in lower and "src=" not in lower  # nothing loaded from anywhere: inline CSS only
    quote = "We consider the case to be politically motivated and the accusations to be unfounded."
    assert f"<mark>{html.escape(quote)}</mark>" in page
    mark = "“group of students with left-wing radical views”"
    assert html.escape(mark) in page
    captured_at = query(archive / "archive.db", "SELECT captured_at FROM captures WHERE id = 2")[0][0]
    sentence = (f"The quoted words are present in an intact archived copy of the source captured at {captured_at}; "
                "this does not prove the claim true.")
    assert page.count(sentence) == 29
    assert "verified" not in lower
    sha256 = query(archive / "archive.db", "SELECT sha256 FROM files WHERE blake3 = ?", (STATEMENT_B3,))[0][0]
    assert (f'content BLAKE3 <span class="hash">{STATEMENT_B3}</span>, content SHA-256 <span class="hash">{sha256}'
            '</span>') in page  # which hash is which: docs/formats.md
    assert ("<p>Content hashes are of each file as kept in <code>data/files/</code> (a compressed response decoded); "
            "the WARC records' payload digests cover the bodies as they were sent.</p>") in page


def test_export_refuses_unknown_case_and_existing_path(exported: dict[str, object], tmp_path: Path) -> None:
    r = khronika("export", "no-such-case", "--archive", str(exported["archive"]), "--out", str(tmp_path / "b"))
    assert r.code == 1
    assert 'error: no case "no-such-case" in this archive (cases: other-case, workers-power)' in r.err
    r = khronika("export", CASE, "--archive", str(exported["archive"]), "--out", str(exported["bag"]))
    assert r.code == 1
    assert f"error: {exported['bag']} already exists; choose a new path" in r.err


def test_export_to_zip_path_only(exported: dict[str, object], tmp_path: Path) -> None:
    target = tmp_path / "case.zip"
    r = khronika("export", CASE, "--archive", str(exported["archive"]), "--out", str(target))
    assert r.code == 0, r.err
    assert target.is_file() and not (tmp_path / "case").exists()
    assert f"key fingerprint {exported['fp']}" in r.out  # the same key, created once
    report = verify_bag(target, exported["fp"])  # type: ignore[arg-type]
    assert report.counts() == ALL_OK


WEB_CASE = """\
case:
  id: "web-case"
  title: "A web case"
  description: "One web page."
sources:
  - id: "page"
    url: "{url}"
    title: "A page"
    kind: "report"
    outlet: "test"
    language: "en"
claims:
  - id: "page-claim"
    text: "The page says something."
    type: "statement"
    citations:
      - source: "page"
        quote: "the sentence that the page says"
        stance: "supports"
"""


def test_web_case_exports_with_wacz(site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    body = b"<html><head><title>A page</title></head><body><article><p>This is the sentence that the page says, " \
           b"with enough words around it for the extractor to keep the paragraph.</p></article></body></html>"
    url = site.set("/page", body, Content_Type="text/html; charset=utf-8")
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "web.yml").write_text(WEB_CASE.format(url=url), "utf-8")
    assert khronika("run", "--archive", str(tmp_path / "archive"), cwd=tmp_path).code == 0
    r = khronika("export", "web-case", "--archive", str(tmp_path / "archive"), "--out", str(tmp_path / "bag"), "--wacz")
    assert r.code == 0, r.err
    assert (tmp_path / "bag.wacz").is_file()  # written, and accepted by `wacz validate`
    fp = next(line.split()[-1] for line in r.out.splitlines() if line.startswith("key fingerprint "))
    report = verify_bag(tmp_path / "bag", fp)
    assert report.exit_code() == 0, [c for c in report.checks if c.state != "ok"]
    db = tmp_path / "bag" / "data" / "archive.db"
    assert query(db, "SELECT refers_to, warc_type FROM bag_warc_records ORDER BY n") == [
        ("warcinfo", "warcinfo"), ("captures", "response"), ("request", "request")]
    assert ("warc", "data/warc/web-case.warc.gz", "ok") in triples(report)


def _sign_statement(bag: Path, archive: Path, statement: dict[str, object], list_signature: bool) -> None:
    from ingest.evidence.bag import write_tag_manifests
    from ingest.evidence.signing import load_or_create_key, sign

    sig = bag / "khronika-signature.json"
    doc = sign(statement, load_or_create_key(archive))
    sig.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", "utf-8")
    if list_signature:
        write_tag_manifests(bag)


def test_bag_signed_in_the_earlier_checkpoint_format_still_verifies(bag: Path, exported: dict[str, object]) -> None:
    from ingest.evidence.bag import file_digest, write_tag_manifests

    doc = json.loads((bag / "khronika-signature.json").read_text("utf-8"))
    (bag / "khronika-signature.json").unlink()
    write_tag_manifests(bag)  # as earlier bags had them: the signature in no tag manifest
    statement = {k: v for k, v in doc.items() if k not in ("public_key", "key_fingerprint", "signature",
                                                            "manifest_sha256", "manifest_sha512")}
    statement["format"] = "khronika-checkpoint/1"
    statement["tagmanifest_sha256"] = file_digest(bag / "tagmanifest-sha256.txt", "sha256")
    statement["tagmanifest_sha512"] = file_digest(bag / "tagmanifest-sha512.txt", "sha512")
    statement["files"] = dict(doc["files"], **{n: file_digest(bag / n, "sha256")
                                               for n in ("tagmanifest-sha256.txt", "tagmanifest-sha512.txt")})
    _sign_statement(bag, exported["archive"], statement, list_signature=False)  # type: ignore[arg-type]
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert report.counts() == ALL_OK
    detail = next(c.detail for c in report.checks if c.check == "signature")
    assert detail == (f"Ed25519 signature valid (key {exported['fp']}); it covers both tag manifests, log head "
                      f"{exported['head']} and all {len(statement['files'])} files, which match")
    # in that format the tag manifests are signed: regenerating them is caught
    with open(bag / "tagmanifest-sha256.txt", "a", encoding="utf-8") as fh:
        fh.write("")
    (bag / "tagmanifest-sha512.txt").write_text((bag / "tagmanifest-sha512.txt").read_text() + "\n")
    assert ("signature", "tagmanifest-sha512.txt", "mismatch") in triples(verify_bag(bag, exported["fp"]))  # type: ignore[arg-type]


def test_signature_of_an_unknown_format_is_unverifiable(bag: Path, exported: dict[str, object]) -> None:
    doc = json.loads((bag / "khronika-signature.json").read_text("utf-8"))
    statement = {k: v for k, v in doc.items() if k not in ("public_key", "key_fingerprint", "signature")}
    statement["format"] = "khronika-checkpoint/9"
    _sign_statement(bag, exported["archive"], statement, list_signature=True)  # type: ignore[arg-type]
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert [(c.check, c.subject, c.state, c.detail) for c in report.checks if c.check == "signature"] == [
        ("signature", "khronika-signature.json", "unverifiable",
         "signature format khronika-checkpoint/9 is not one this version of Khronika can check")]
    assert report.exit_code() == 4


@pytest.mark.parametrize("how", ["removed", "without the signature"])
def test_tag_manifests_must_list_every_tag_file(bag: Path, exported: dict[str, object], how: str) -> None:
    path = bag / "tagmanifest-sha512.txt"
    if how == "removed":
        path.unlink()  # the bagit validator accepts a bag without tag manifests
        expected = ("signature", "tagmanifest-sha512.txt", "missing",
                    "tag manifest is missing; it must list every tag file")
    else:
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if "signature" not in line))
        expected = ("signature", "tagmanifest-sha512.txt", "mismatch",
                    "lists bag-info.txt, bagit.txt, manifest-sha256.txt, manifest-sha512.txt; the tag files are "
                    "bag-info.txt, bagit.txt, khronika-signature.json, manifest-sha256.txt, manifest-sha512.txt")
    report = verify_bag(bag, exported["fp"])  # type: ignore[arg-type]
    assert [(c.check, c.subject, c.state, c.detail) for c in report.checks if c.check == "signature"] == [expected]
    assert report.exit_code() == 1
