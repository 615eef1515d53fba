"""Claims, anchoring and `verify`: every kind of tampering and drift is detected and named."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import ROOT, Site, khronika, query

from ingest.store.log import entry_hash

DOC = "Суд постановил: «Гарри Азарян» заключён под стражу на два месяца.\nЗащита обжалует решение.\n"
PAGE = """<html><head><meta charset="utf-8"><title>Report</title></head><body><article>
<p>On 16 May 2025 the Krasnogvardeysky District Court ordered the student held for two months in custody.</p>
<p>Lawyers for the defence said they would appeal against the decision to the city court next week.</p>
<p>Several other members of the group were questioned as witnesses and later released by investigators.</p>
</article></body></html>"""


def write_case(folder: Path, site: Site, quote_doc: str = "«Гарри Азарян» заключён под стражу") -> Path:
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    (folder / "docs" / "decision.txt").write_text(DOC, encoding="utf-8")
    site.set("/report", PAGE.encode("utf-8"), Content_Type="text/html; charset=utf-8")
    case = folder / "t.yml"
    case.write_text(f"""case:
  id: t
  title: T
sources:
  - id: decision
    path: docs/decision.txt
    outlet: Court
  - id: report
    url: {site.url('/report')}
    outlet: Example News
  - id: later
    wanted: true
claims:
  - id: held
    text: The court ordered Azaryan held.
    date: 2025-05-16
    citations:
      - source: decision
        quote: "{quote_doc}"
        stance: supports
      - source: report
        quote: "ordered the student held for two months"
        stance: supports
  - id: released
    text: Others were released.
    citations:
      - source: report
        quote: "questioned as witnesses and later released"
        stance: supports
      - source: later
        quote: "released"
        stance: mentions
""", encoding="utf-8")
    return case


@pytest.fixture
def built(tmp_path: Path, site: Site) -> tuple[Path, Path, Site]:
    case = write_case(tmp_path / "case", site)
    archive = tmp_path / "archive"
    result = khronika("run", str(case), "--archive", str(archive))
    assert result.code == 0, result.err
    return case, archive, site


def verify_json(archive: Path, *args: str) -> tuple[int, dict]:
    result = khronika("verify", "--archive", str(archive), "--json", *args)
    return result.code, json.loads(result.out)


def not_ok(report: dict) -> list[tuple[str, str, str]]:
    return [(c["check"], c["subject"], c["state"]) for c in report["checks"] if c["state"] != "ok"]


def test_clean_archive_verifies_and_claims_are_sourced(built: tuple[Path, Path, Site]) -> None:
    _, archive, _ = built
    code, report = verify_json(archive)
    assert code == 0
    assert report["counts"] == {"ok": 13, "mismatch": 0, "missing": 0, "unverifiable": 0, "drift": 0}  # 2 of them visibility
    rows = query(archive / "archive.db", "SELECT id, status, supporting_outlets FROM claims ORDER BY id")
    assert rows == [("t/held", "sourced", 2), ("t/released", "sourced", 1)]
    cit = query(archive / "archive.db", "SELECT id, match, exact, rules FROM citations ORDER BY id")
    assert cit[0] == ("t/held#1", "exact", "«Гарри Азарян» заключён под стражу", "[]")
    assert cit[3][:2] == ("t/released#2", "unverifiable")


def test_normalized_quotes_anchor_through_the_offset_map(tmp_path: Path, site: Site) -> None:
    # Typed with straight quotes, е for ё and a line break where the text has a space.
    case = write_case(tmp_path / "case", site, quote_doc='\\"Гарри Азарян\\" заключен\\nпод стражу')
    archive = tmp_path / "archive"
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    row = query(archive / "archive.db", "SELECT match, start, end, exact, rules FROM citations WHERE id = 't/held#1'")[0]
    assert row[:4] == ("normalized", 16, 50, "«Гарри Азарян» заключён под стражу")
    assert DOC[16:50] == row[3]
    assert json.loads(row[4]) == ["quotes", "whitespace", "yo"]
    assert verify_json(archive)[0] == 0


def test_flipped_byte_and_deleted_file_are_named(built: tuple[Path, Path, Site]) -> None:
    _, archive, _ = built
    (b3, path), = query(archive / "archive.db", "SELECT blake3, path FROM files WHERE media_type = 'text/plain'")
    target = archive / path
    data = bytearray(target.read_bytes())
    data[0] ^= 0x01
    target.write_bytes(bytes(data))
    code, report = verify_json(archive)
    assert code == 1
    assert ("fixity", f"file {b3} ({path})", "mismatch") in not_ok(report)
    assert ("quote", "t/held#1".join(["citation ", ""]), "mismatch") in not_ok(report)
    assert query(archive / "archive.db", "SELECT status FROM claims WHERE id = 't/held'") == [("partly_sourced",)]
    target.unlink()
    code, report = verify_json(archive)
    assert code == 1
    fixity = [c for c in report["checks"] if c["subject"] == f"file {b3} ({path})"]
    assert fixity == [{"check": "fixity", "subject": f"file {b3} ({path})", "state": "missing",
                       "detail": "file is missing from the archive"}]


@pytest.mark.parametrize("sql,subject,detail", [
    ("UPDATE citations SET exact = 'под стражу' WHERE id = 't/held#1'",
     "citations row t/held#1", "row differs from log entry {seq} in: exact"),
    ("UPDATE captures SET captured_at = '2020-01-01T00:00:00.000000Z' WHERE id = 1",
     "captures row 1", "row differs from log entry {seq} in: captured_at"),
    ("UPDATE claims SET text = 'The court released Azaryan.' WHERE id = 't/held'",
     "claims row t/held", "row differs from log entry {seq} in: text"),
    ("DELETE FROM attempts WHERE id = 1",
     "attempts row 1", "row recorded by log entry {seq} is missing"),
])
def test_rows_edited_behind_the_tools_back_are_named(built: tuple[Path, Path, Site], sql: str, subject: str, detail: str) -> None:
    _, archive, _ = built
    table, _, key = subject.split(" ", 2)[0], None, subject.split(" ")[-1]
    seq = query(archive / "archive.db", "SELECT max(seq) FROM log WHERE table_name = ? AND key = ?", (table, key))[0][0]
    conn = sqlite3.connect(archive / "archive.db")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute(sql)
    conn.commit()
    conn.close()
    code, report = verify_json(archive)
    assert code == 1
    found = [c for c in report["checks"] if c["subject"] == subject]
    assert [(c["state"], c["detail"]) for c in found] == [
        ("missing" if "missing" in detail else "mismatch", detail.format(seq=seq))]


def _log_lines(archive: Path) -> tuple[Path, list[str]]:
    (path,) = sorted((archive / "log").glob("*.jsonl"))
    return path, path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_deleted_and_reordered_log_entries_are_named(built: tuple[Path, Path, Site]) -> None:
    _, archive, _ = built
    path, lines = _log_lines(archive)
    original = "".join(lines)
    path.write_text("".join(lines[:4] + lines[5:]), encoding="utf-8")
    code, report = verify_json(archive)
    assert code == 1
    assert ("log", "log entry 6", "mismatch") in not_ok(report)
    assert [c["detail"] for c in report["checks"] if c["subject"] == "log entry 6" and c["state"] == "mismatch"] == [
        "sequence number 6 where 5 was expected (entries deleted, inserted or reordered)",
        "does not link to the previous entry's hash",
    ]
    path.write_text("".join(lines[:3] + [lines[4], lines[3]] + lines[5:]), encoding="utf-8")
    code, report = verify_json(archive)
    assert code == 1
    assert ("log", "log entry 5", "mismatch") in not_ok(report)
    path.write_text(original, encoding="utf-8")
    assert verify_json(archive)[0] == 0


def test_a_consistently_rewritten_chain_is_caught_only_by_a_published_head(built: tuple[Path, Path, Site]) -> None:
    _, archive, _ = built
    head = khronika("verify", "--archive", str(archive)).out.strip().splitlines()[-1].removeprefix("log head ")
    path, lines = _log_lines(archive)
    entries = [json.loads(line) for line in lines]
    # Forge: change a claim's text in the log and the table, then re-hash the whole chain.
    prev = "0" * 64
    import rfc8785

    from ingest.store.log import row_hash
    for e in entries:
        if e.get("table") == "claims" and e["key"] == "t/held":
            e["row"]["text"] = "The court released Azaryan."
            e["row_hash"] = row_hash(e["row"])
        e["prev"] = prev
        e["hash"] = entry_hash(e)
        prev = e["hash"]
    path.write_bytes(b"".join(rfc8785.dumps(e) + b"\n" for e in entries))
    conn = sqlite3.connect(archive / "archive.db")
    conn.execute("UPDATE claims SET text = 'The court released Azaryan.' WHERE id = 't/held'")
    for e in entries:
        conn.execute("UPDATE log SET hash = ?, prev = ?, row_hash = ? WHERE seq = ?", (e["hash"], e["prev"], e.get("row_hash"), e["seq"]))
    conn.commit()
    conn.close()
    assert verify_json(archive)[0] == 0  # without a published head, a consistent rewrite passes
    code, report = verify_json(archive, "--head", head)
    assert code == 1
    seq = head.split(":")[0]
    assert [(c["check"], c["state"]) for c in report["checks"] if c["check"] == "head"] == [("head", "mismatch")]
    assert [c["detail"] for c in report["checks"] if c["check"] == "head"][0].startswith(f"entry {seq} has hash ")


def test_live_drift_is_reported_and_plain_verify_then_reports_it_from_the_archive(built: tuple[Path, Path, Site]) -> None:
    _, archive, site = built
    site.set("/report", PAGE.replace("held for two months", "held for three months")
             .replace("questioned as witnesses and later released", "questioned").encode("utf-8"),
             Content_Type="text/html; charset=utf-8")
    code, report = verify_json(archive, "--live")
    assert code == 3
    live = {c["subject"].split(" at ")[0]: c for c in report["checks"] if c["check"] == "live"}
    assert live["citation t/held#2"]["finding"] == "quote_changed"
    assert live["citation t/held#2"]["state"] == "drift"
    assert "-ordered the student held for two months" in live["citation t/held#2"]["detail"]
    assert "+ordered the student held for three months" in live["citation t/held#2"]["detail"]
    assert live["citation t/released#1"]["finding"] == "quote_removed"
    # The anchored capture is intact, but the archive now holds a later version without the
    # quotes: plain verify (no network) reports that drift, exit 3.
    code, report = verify_json(archive)
    assert code == 3
    assert [(c["check"], c["subject"], c["state"], c["finding"]) for c in report["checks"] if c["state"] != "ok"] == [
        ("drift", "citation t/held#2", "drift", "quote_changed"),
        ("drift", "citation t/released#1", "drift", "quote_removed"),
    ]
    assert query(archive / "archive.db", "SELECT count(*) FROM captures WHERE source_id = 't/report'") == [(2,)]
    site.set("/report", b"", status=404)
    code, report = verify_json(archive, "--live")
    assert code == 3
    assert {c["finding"] for c in report["checks"] if c["check"] == "live"} == {"page_gone"}
    site.close()
    code, report = verify_json(archive, "--live")
    assert code == 4
    assert {(c["state"], c["finding"]) for c in report["checks"] if c["check"] == "live"} == {("unverifiable", "unreachable")}


def test_revised_and_withdrawn_claims_are_logged(built: tuple[Path, Path, Site]) -> None:
    case, archive, _ = built
    text = case.read_text(encoding="utf-8")
    text = text.replace("The court ordered Azaryan held.", "The court ordered Azaryan held for two months.")
    text = text[: text.index("  - id: released")]
    case.write_text(text, encoding="utf-8")
    assert khronika("run", str(case), "--archive", str(archive)).code == 0
    events = query(archive / "archive.db", "SELECT event, key FROM log WHERE event LIKE 'claim_%' AND event != 'claim_recorded' ORDER BY seq")
    assert events == [("claim_revised", "t/held"), ("claim_withdrawn", "t/released")]
    assert query(archive / "archive.db", "SELECT id, withdrawn FROM claims ORDER BY id") == [("t/held", 0), ("t/released", 1)]
    assert verify_json(archive)[0] == 0


def test_verify_refuses_a_folder_that_is_not_an_archive(tmp_path: Path) -> None:
    result = khronika("verify", "--archive", str(tmp_path))
    assert result.code == 1
    assert result.err.strip() == (f"error: {tmp_path} is not a Khronika archive (no archive.db); "
                                  f"run `python -m ingest run --archive {tmp_path}` first")


def test_default_case_every_claim_sourced(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases", tmp_path / "cases")
    assert khronika("run", cwd=tmp_path).code == 0
    result = khronika("verify", cwd=tmp_path)
    assert result.code == 0, result.out
    statuses = query(tmp_path / "archive" / "archive.db", "SELECT DISTINCT status FROM claims")
    assert statuses == [("sourced",)]
    assert query(tmp_path / "archive" / "archive.db", "SELECT count(*) FROM claims")[0][0] >= 10


def test_database_is_rebuilt_from_the_log_and_the_files(built: tuple[Path, Path, Site]) -> None:
    case, archive, _ = built
    tables = ("cases", "sources", "files", "captures", "attempts", "extractions", "claims", "citations", "log")
    before = {t: query(archive / "archive.db", f"SELECT * FROM {t} ORDER BY 1") for t in tables}
    for suffix in ("", "-wal", "-shm"):
        (archive / f"archive.db{suffix}").unlink(missing_ok=True)
    result = khronika("run", str(case), "--archive", str(archive), "--offline")
    assert result.code == 0, result.err
    assert "recovered: restored the text of 2 extraction(s) from the archived files" in result.err
    after = {t: query(archive / "archive.db", f"SELECT * FROM {t} ORDER BY 1") for t in tables}
    for t in tables:
        assert [r for r in after[t] if r not in before[t]] == [], t
    assert query(archive / "archive.db", "SELECT count(*) FROM extractions_fts WHERE extractions_fts MATCH 'азарян'") == [(1,)]
    assert verify_json(archive)[0] == 0


def test_an_extractor_upgrade_is_reported_with_the_quotes_it_would_move_or_break(built: tuple[Path, Path, Site]) -> None:
    from ingest.checks.verify import _quote_impact
    from ingest.store.archive import Archive

    _, archive_dir, _ = built
    with Archive.open(archive_dir, write=False) as archive:
        (row,) = list(archive.db.query(
            "SELECT e.* FROM extractions e JOIN captures c ON c.blake3 = e.blake3 WHERE c.source_id = 't/decision'"))
        text = row["text"]
        assert _quote_impact(archive, row, text) == "no anchored quote is affected"
        assert _quote_impact(archive, row, "Preface. " + text) == "an upgrade would move 1 quote(s) ['t/held#1'] and break 0 []"
        assert _quote_impact(archive, row, text.replace("под стражу", "на свободу")) == (
            "an upgrade would move 0 quote(s) [] and break 1 ['t/held#1']")
