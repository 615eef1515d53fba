"""The claim phase's work done while the workers extract (claims/ahead) comes to the same
records, in the same order of claims, as the claim phase doing all of it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import query

N = 40


def write_case(folder: Path) -> Path:
    (folder / "docs").mkdir(parents=True)
    for i in range(N):
        (folder / "docs" / f"d{i:02d}.txt").write_text(
            f"Документ {i}.\n\nВ документе {i} сказано: суд продлил арест номер {i}.\n", encoding="utf-8")
    sources = "".join(f"  - id: d{i:02d}\n    path: docs/d{i:02d}.txt\n" for i in range(N))
    # Every claim also cites a later document, so claims are ready out of their order.
    claims = "".join(f"""  - id: c{i:02d}
    text: Claim {i}
    citations:
      - source: d{i:02d}
        quote: "суд продлил арест номер {i}"
        stance: supports
      - source: d{(i + 7) % N:02d}
        quote: "{'В документе ' + str((i + 7) % N) if i % 3 else 'нет такой фразы'}"
        stance: mentions
""" for i in range(N))
    case = folder / "ahead.yml"
    case.write_text(f"case:\n  id: ahead\n  title: Ahead\nsources:\n{sources}claims:\n{claims}", encoding="utf-8")
    return case


def ingest(case_file: Path, archive_dir: Path, ahead: bool, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from ingest import pipeline
    from ingest.claims.ahead import Ahead
    from ingest.claims.cases import load_case
    from ingest.store.archive import Archive

    original = Ahead.__init__
    monkeypatch.setattr(Ahead, "__init__", lambda self, archive, visibility, record:
                        original(self, archive, visibility, record and ahead))
    monkeypatch.setattr(pipeline, "WARM_SLICE", 5.0)  # whatever is settled is worked through at the next idle call
    # Each text takes the worker (forked from this process, so patched too) longer than a capture
    # takes the run: the run waits on the worker, and works ahead meanwhile.
    from ingest.text import extract as extract_module
    slow = extract_module.extract
    monkeypatch.setattr(extract_module, "extract", lambda *a, **k: (time.sleep(0.02), slow(*a, **k))[1])
    with Archive.open(archive_dir, create=True) as archive:
        report = pipeline.run([load_case(case_file)], archive, pipeline.RunOptions(offline=True, visibility="off"))
    assert report.count("new") == N
    return [e for (e,) in query(archive_dir / "archive.db", "SELECT event FROM log ORDER BY seq")]


def test_claims_recorded_ahead_are_the_claim_phases_records_in_the_case_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = write_case(tmp_path / "case")
    ahead = ingest(case, tmp_path / "ahead", True, monkeypatch)
    plain = ingest(case, tmp_path / "plain", False, monkeypatch)
    # Ahead: claims were recorded while texts were still coming in; plain: all after the last text.
    last_text = max(i for i, e in enumerate(ahead) if e == "extraction")
    assert ahead.index("claim_recorded") < last_text
    assert plain.index("claim_recorded") > max(i for i, e in enumerate(plain) if e == "extraction")
    assert sorted(ahead) == sorted(plain)
    for table, columns in (
        ("claims", "id, status, status_reason, supporting_outlets, origins"),
        ("citations", "id, capture_id, blake3, text_blake3, match, start, [end], exact, rules, reason"),
    ):
        rows = [query(tmp_path / name / "archive.db", f"SELECT {columns} FROM {table} ORDER BY id")
                for name in ("ahead", "plain")]
        assert rows[0] == rows[1]
    # Claims keep the case's order (by rowid too); a claim's citations keep theirs.
    for name in ("ahead", "plain"):
        db = tmp_path / name / "archive.db"
        assert [r[0] for r in query(db, "SELECT slug FROM claims ORDER BY rowid")] == [f"c{i:02d}" for i in range(N)]
        cited = query(db, "SELECT claim_id, n FROM citations ORDER BY rowid")
        assert [n for _, n in sorted(cited, key=lambda r: r[0])] == [1, 2] * N
        assert all(cited.index((claim, 1)) < cited.index((claim, 2)) for claim, _ in cited)
    statuses = query(tmp_path / "ahead" / "archive.db", "SELECT status, count(*) FROM claims GROUP BY status")
    assert statuses == [("sourced", N)]
    cited = query(tmp_path / "ahead" / "archive.db", "SELECT match, count(*) FROM citations GROUP BY match ORDER BY match")
    assert cited == [("exact", N + N - (N + 2) // 3), ("not_found", (N + 2) // 3)]
