"""Trusted time: RFC 3161 timestamps over the log head from a real TSA (`openssl ts -reply`) on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rfc3161_client import _rust
from tsa_server import Authority, TsaServer

from conftest import ROOT, khronika, query
from ingest.store import tsa

HEAD_AFTER_RUN = 74  # entries the default case's first run writes (9 of them its people)


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Authority]:
    base = tmp_path_factory.mktemp("pki")
    return {"test": Authority(base / "test", "Test"), "other": Authority(base / "other", "Second"),
            "rogue": Authority(base / "rogue", "Rogue")}


@pytest.fixture
def servers(authorities: dict[str, Authority]) -> Iterator[dict[str, TsaServer]]:
    running = {name: TsaServer(a) for name, a in authorities.items()}
    yield running
    for server in running.values():
        server.close()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    result = khronika("run", "--archive", str(tmp_path / "archive"), cwd=tmp_path)
    assert result.code == 0, result.err
    return tmp_path / "archive"


def head_of(archive: Path) -> tuple[int, str]:
    return query(archive / "archive.db", "SELECT seq, hash FROM log ORDER BY seq DESC LIMIT 1")[0]


def entry_hash(archive: Path, seq: int) -> str:
    return query(archive / "archive.db", "SELECT hash FROM log WHERE seq = ?", (seq,))[0][0]


def stamps(archive: Path) -> list[tuple]:
    return query(archive / "archive.db", "SELECT id, head_seq, head_hash, tsa_url, signer, serial, policy, client "
                 "FROM timestamps ORDER BY id")


def test_request_carries_the_digest_itself_and_a_nonce() -> None:
    digest = hashlib.sha256(b"head").digest()
    der, nonce = tsa.build_request(digest, nonce=2**63 + 5)
    parsed = _rust.parse_timestamp_request(der)
    assert (parsed.version, parsed.nonce, parsed.cert_req, parsed.message_imprint.message) == (1, 2**63 + 5, True, digest)
    assert parsed.message_imprint.hash_algorithm.dotted_string == "2.16.840.1.101.3.4.2.1"
    assert nonce == 2**63 + 5


def test_run_without_a_tsa_says_the_head_is_not_timestamped(archive: Path, tmp_path: Path) -> None:
    seq, digest = head_of(archive)
    assert seq == HEAD_AFTER_RUN
    again = khronika("run", "--archive", str(archive), cwd=tmp_path)
    # Nothing new was logged, but the head is still covered by no timestamp, and the run says so.
    assert f"log head {seq}:{digest} not timestamped: no TSA configured (--tsa URL --tsa-cert PEM)" in again.err.splitlines()
    result = khronika("verify", "--archive", str(archive))
    assert result.code == 0
    assert ("trusted time: no checked timestamp covers the log; its times are this machine's clock "
            "(python -m ingest timestamp --tsa URL --tsa-cert PEM)") in result.out.splitlines()


def test_fresh_run_line(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    result = khronika("run", "--archive", str(tmp_path / "archive"), cwd=tmp_path)
    seq, digest = head_of(tmp_path / "archive")
    assert f"log head {seq}:{digest} not timestamped: no TSA configured (--tsa URL --tsa-cert PEM)" in result.err.splitlines()


def test_timestamp_verify_and_an_independent_check(archive: Path, authorities: dict[str, Authority],
                                                    servers: dict[str, TsaServer]) -> None:
    url, ca = servers["test"].url, authorities["test"].ca_pem
    seq, digest = head_of(archive)
    result = khronika("timestamp", "--archive", str(archive), "--tsa", url, "--tsa-cert", str(ca))
    assert result.code == 0, result.err
    rows = stamps(archive)
    assert len(rows) == 1
    stamped_seq = rows[0][1]
    # The pin is stored before asking, so the stamped head is the entry after it.
    assert stamped_seq == seq + 1 and rows[0][2] == entry_hash(archive, seq + 1)
    assert rows[0][3:7] == (url, "CN=Test TSA", "2", "1.2.3.4.1")
    assert rows[0][7].startswith("rfc3161-client ")
    gen = query(archive / "archive.db", "SELECT gen_time FROM timestamps")[0][0]
    assert result.err.splitlines()[0] == (f"timestamped  log head {stamped_seq}:{rows[0][2]} by {url}: "
                                          f"entries 1–{stamped_seq} existed no later than {gen}")
    # OpenSSL, knowing nothing of Khronika, accepts the token over the entry's hash.
    token = query(archive / "archive.db", "SELECT f.path FROM timestamps t JOIN files f ON f.blake3 = t.token_blake3")[0][0]
    check = subprocess.run(["openssl", "ts", "-verify", "-digest", rows[0][2], "-in", str(archive / token),
                            "-CAfile", str(ca)], capture_output=True, text=True)
    assert check.stdout == "Verification: OK\n"
    config = json.loads((archive / "timestamping.json").read_text())
    assert [e["url"] for e in config["tsas"]] == [url]
    verified = khronika("verify", "--archive", str(archive))
    assert verified.code == 0, verified.out
    assert (f"trusted time: entries 1–{stamped_seq} existed no later than {gen} (TSA CN=Test TSA, serial 2)"
            in verified.out.splitlines())
    # Covered already: asking again changes nothing.
    again = khronika("timestamp", "--archive", str(archive))
    assert again.code == 0
    assert again.err.splitlines()[0] == f"log head {head_of(archive)[0]}:{head_of(archive)[1]} is covered by a timestamp already"
    assert len(stamps(archive)) == 1


def test_a_run_that_logs_uses_the_kept_tsa_and_two_tsas_at_once(archive: Path, tmp_path: Path,
                                                                 authorities: dict[str, Authority],
                                                                 servers: dict[str, TsaServer]) -> None:
    result = khronika("timestamp", "--archive", str(archive), "--tsa", servers["test"].url, "--tsa-cert",
                      str(authorities["test"].ca_pem), "--tsa", servers["other"].url, "--tsa-cert",
                      str(authorities["other"].tsa_pem))  # the second pinned by its leaf certificate
    assert result.code == 0, result.err
    assert [r[3:5] for r in stamps(archive)] == [(servers["test"].url, "CN=Test TSA"),
                                                (servers["other"].url, "CN=Second TSA")]
    (tmp_path / "cases" / "workers-power" / "statement.txt").chmod(0o644)
    note = tmp_path / "cases" / "workers-power.yml"
    note.write_text(note.read_text(encoding="utf-8").replace("title: \"The ‘Workers’ Power’ Case\"",
                                                               "title: \"The ‘Workers’ Power’ Case (statement)\"", 1),
                    encoding="utf-8")
    run = khronika("run", "--archive", str(archive), cwd=tmp_path)
    assert run.code == 0, run.err
    lines = [line for line in run.err.splitlines() if line.startswith("timestamped")]
    assert [line.split(" by ")[1].split(":")[0:2] for line in lines] == [
        servers["test"].url.split(":")[0:2], servers["other"].url.split(":")[0:2]]
    assert len(stamps(archive)) == 4
    report = json.loads(khronika("verify", "--archive", str(archive), "--json").out)
    assert [(c["subject"], c["state"]) for c in report["checks"] if c["check"] == "timestamp"] == [
        (f"timestamp {n} ({url})", "ok") for n, url in
        ((1, servers["test"].url), (2, servers["other"].url), (3, servers["test"].url), (4, servers["other"].url))]


@pytest.mark.parametrize("case,reason", [
    ("error-status", "TSA refused: status REJECTION (bad request.)"),
    ("other-imprint", "the token covers another digest"),
    ("truncated", "not a timestamp response (truncated or malformed: ASN.1 parse error"),
    ("http-500", "answered HTTP 500"),
    ("unreachable", "unreachable: [Errno 111] Connection refused"),
    ("unpinned", "the token does not verify against the pinned certificate"),
    ("own-root", "the token does not verify against the pinned certificate"),
])
def test_a_bad_tsa_is_named_and_nothing_is_trusted(archive: Path, authorities: dict[str, Authority],
                                                   servers: dict[str, TsaServer], case: str, reason: str) -> None:
    url, pin = servers["test"].url, authorities["test"].ca_pem
    if case in ("error-status", "other-imprint", "truncated", "http-500"):
        servers["test"].mode = case
    elif case == "unreachable":
        url = "http://127.0.0.1:9/tsa"
    elif case == "unpinned":
        pin = authorities["rogue"].ca_pem
    elif case == "own-root":
        url = servers["rogue"].url  # signs with its own chain, root included, and the pin is the real CA
    files_before = query(archive / "archive.db", "SELECT count(*) FROM files WHERE media_type != 'application/x-pem-file'")
    result = khronika("timestamp", "--archive", str(archive), "--tsa", url, "--tsa-cert", str(pin))
    assert result.code == 1
    line = result.err.splitlines()[0]
    assert line.startswith(f"timestamp failed: {url}: ") and reason in line
    assert line.endswith(f"; log head {head_of(archive)[0]}:{head_of(archive)[1]} not timestamped there")
    assert stamps(archive) == []
    assert query(archive / "archive.db", "SELECT count(*) FROM files WHERE media_type != 'application/x-pem-file'") == files_before
    verified = khronika("verify", "--archive", str(archive))
    assert verified.code == 0
    assert "trusted time: no checked timestamp covers the log" in verified.out


def test_a_failing_tsa_leaves_the_run_result_alone(tmp_path: Path, authorities: dict[str, Authority],
                                                   servers: dict[str, TsaServer]) -> None:
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    servers["test"].mode = "http-500"
    result = khronika("run", "--archive", str(tmp_path / "archive"), "--tsa", servers["test"].url,
                      "--tsa-cert", str(authorities["test"].ca_pem), cwd=tmp_path)
    assert result.code == 0
    assert any(line.startswith(f"timestamp failed: {servers['test'].url}: TSA {servers['test'].url} answered HTTP 500")
               for line in result.err.splitlines())
    assert query(tmp_path / "archive" / "archive.db", "SELECT status, count(*) FROM claims GROUP BY status") == [("sourced", 20)]


def test_bad_pairs_and_pins_are_usage_errors(archive: Path, tmp_path: Path) -> None:
    odd = khronika("timestamp", "--archive", str(archive), "--tsa", "http://127.0.0.1:9/")
    assert odd.code == 2 and "--tsa and --tsa-cert come in pairs: 1 --tsa, 0 --tsa-cert" in odd.err
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    bad = khronika("timestamp", "--archive", str(archive), "--tsa", "http://127.0.0.1:9/", "--tsa-cert", str(tmp_path / "bad.pem"))
    assert bad.code == 2
    assert (f"Error: --tsa-cert {tmp_path / 'bad.pem'}: not a PEM certificate file "
            "(no readable -----BEGIN CERTIFICATE----- block)") in bad.err
    none = khronika("timestamp", "--archive", str(archive))
    assert none.code == 1 and "not timestamped: no TSA configured" in none.err


def test_tampered_tokens_and_rows_are_caught(archive: Path, authorities: dict[str, Authority],
                                             servers: dict[str, TsaServer]) -> None:
    assert khronika("timestamp", "--archive", str(archive), "--tsa", servers["test"].url,
                    "--tsa-cert", str(authorities["test"].ca_pem)).code == 0
    token = archive / query(archive / "archive.db", "SELECT f.path FROM timestamps t JOIN files f ON f.blake3 = t.token_blake3")[0][0]
    data = bytearray(token.read_bytes())
    data[-20] ^= 0x01  # inside the signature
    token.chmod(0o644)
    token.write_bytes(bytes(data))
    report = json.loads(khronika("verify", "--archive", str(archive), "--json").out)
    found = [(c["check"], c["state"]) for c in report["checks"] if c["state"] != "ok"]
    assert ("timestamp", "mismatch") in found and ("fixity", "mismatch") in found
    detail = next(c["detail"] for c in report["checks"] if c["check"] == "timestamp")
    assert detail.startswith("the token does not verify against the pinned certificate")
    assert report["trusted_time"].startswith("trusted time: no checked timestamp covers the log")


def test_bag_carries_tokens_and_verify_bag_checks_them_offline(archive: Path, tmp_path: Path,
                                                               authorities: dict[str, Authority],
                                                               servers: dict[str, TsaServer]) -> None:
    out = tmp_path / "bag"
    result = khronika("export", "workers-power", "--archive", str(archive), "--out", str(out), "--tsa",
                      servers["test"].url, "--tsa-cert", str(authorities["test"].ca_pem))
    assert result.code == 0, result.err
    servers["test"].close()  # offline from here on
    checked = khronika("verify-bag", str(out), "--json")
    report = json.loads(checked.out)
    stamped = [c for c in report["checks"] if c["check"] == "timestamp"]
    assert [(c["subject"], c["state"]) for c in stamped] == [(f"timestamp 1 ({servers['test'].url})", "ok")]
    assert report["trusted_time"].startswith("trusted time: entries 1–")
    token = next(p for p in (out / "data" / "files").iterdir()
                 if p.name == query(archive / "archive.db", "SELECT token_blake3 FROM timestamps")[0][0])
    data = bytearray(token.read_bytes())
    data[-20] ^= 0x01
    token.write_bytes(bytes(data))
    broken = json.loads(khronika("verify-bag", str(out), "--json").out)
    bad = [c for c in broken["checks"] if c["check"] == "timestamp"]
    assert bad[0]["state"] == "mismatch"
    assert bad[0]["detail"].startswith("the token does not verify against the pinned certificate")


def page_text(archive: Path, path: str) -> str:
    import asyncio

    from test_web import make_datasette

    response = asyncio.run(make_datasette(archive).client.get(path))
    assert response.status_code == 200, response.text[:300]
    return response.text


def test_claim_page_shows_the_trusted_time(archive: Path, authorities: dict[str, Authority],
                                           servers: dict[str, TsaServer]) -> None:
    before = page_text(archive, "/-/claim/workers-power/azaryan-detained")
    assert "no trusted timestamp covers it yet" in before
    assert khronika("timestamp", "--archive", str(archive), "--tsa", servers["test"].url,
                    "--tsa-cert", str(authorities["test"].ca_pem)).code == 0
    gen = query(archive / "archive.db", "SELECT gen_time FROM timestamps")[0][0]
    after = page_text(archive, "/-/claim/workers-power/azaryan-detained")
    assert f"no later than {gen} per TSA CN=Test TSA" in after
    assert f"no later than {gen} per TSA CN=Test TSA" in page_text(archive, "/-/source/workers-power/statement")


@pytest.fixture
def calendar() -> Iterator[object]:
    from ots_calendar import Calendar

    cal = Calendar()
    yield cal
    cal.close()


def test_opentimestamps_pending_then_attested(archive: Path, tmp_path: Path, calendar) -> None:  # type: ignore[no-untyped-def]
    import hashlib as h

    from ots_calendar import BLOCK

    result = khronika("timestamp", "--archive", str(archive), "--ots-calendar", calendar.url)
    assert result.code == 0, result.err
    seq, digest = query(archive / "archive.db", "SELECT head_seq, head_hash FROM ots_proofs")[0]
    assert result.err.splitlines()[0] == (f"opentimestamps: log head {seq}:{digest} submitted to {calendar.url}: "
                                          "pending (python -m ingest timestamp --upgrade later)")
    verified = khronika("verify", "--archive", str(archive))
    assert verified.code == 0
    pending = f"opentimestamps: entries 1–{seq} pending at {calendar.url} (python -m ingest timestamp --upgrade)"
    assert pending in verified.out.splitlines()
    # A pending proof proves nothing yet: it is never an ok check, and the trusted-time line says so.
    assert "trusted time: no checked timestamp covers the log" in verified.out
    early = khronika("timestamp", "--archive", str(archive), "--upgrade")
    assert early.err.splitlines()[0] == f"opentimestamps: proof 1 ({calendar.url}) still pending"
    calendar.mined = True
    late = khronika("timestamp", "--archive", str(archive), "--upgrade")
    assert late.code == 0, late.err
    assert query(archive / "archive.db", "SELECT state FROM ots_proofs") == [("attested",)]
    # The merkle root the proof commits the head to, computed here from the calendar's operations.
    leaf = h.sha256(h.sha256(bytes.fromhex(digest) + calendar_nonce(archive)).digest() + b"calendar-nonce").digest()
    root = h.sha256(leaf).digest()[::-1].hex()
    attested = (f"opentimestamps: entries 1–{seq} attested in Bitcoin block {BLOCK} (merkle root {root}); that block "
                "header is not checked here (compare it with a Bitcoin node)")
    assert attested in khronika("verify", "--archive", str(archive)).out.splitlines()
    out = tmp_path / "bag"
    assert khronika("export", "workers-power", "--archive", str(archive), "--out", str(out)).code == 0
    calendar.close()
    assert attested in khronika("verify-bag", str(out)).out.splitlines()


def calendar_nonce(archive: Path) -> bytes:
    """The client's random nonce, read back from the first proof kept (the first append after the digest)."""
    from opentimestamps.core import op, serialize, timestamp

    first = query(archive / "archive.db", "SELECT f.path FROM log l JOIN files f ON f.blake3 = "
                  "json_extract(l.entry, '$.row.proof_blake3') WHERE l.event = 'ots_submitted'")[0][0]
    detached = timestamp.DetachedTimestampFile.deserialize(
        serialize.BytesDeserializationContext((archive / first).read_bytes()))
    (append,) = detached.timestamp.ops.keys()
    assert isinstance(append, op.OpAppend)
    return append[0]


def test_a_proof_over_another_head_is_a_mismatch(archive: Path, calendar) -> None:  # type: ignore[no-untyped-def]
    assert khronika("timestamp", "--archive", str(archive), "--ots-calendar", calendar.url).code == 0
    db = archive / "archive.db"
    seq = query(db, "SELECT head_seq FROM ots_proofs")[0][0]
    import sqlite3

    with sqlite3.connect(db) as conn:  # the row is edited behind the tool's back
        conn.execute("UPDATE ots_proofs SET head_seq = ?", (seq - 1,))
    report = json.loads(khronika("verify", "--archive", str(archive), "--json").out)
    bad = [(c["check"], c["subject"], c["state"]) for c in report["checks"] if c["state"] != "ok"]
    assert ("timestamp", f"opentimestamps proof 1 ({calendar.url})", "mismatch") in bad
    assert ("log", "ots_proofs row 1", "mismatch") in bad
