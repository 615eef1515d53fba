"""The command line as a user meets it: exit codes and exact messages."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT, Site, khronika


def test_check_reports_the_default_case() -> None:
    result = khronika("check", "cases/workers-power.yml")
    assert (result.code, result.out) == (0, "cases/workers-power.yml: ok (9 sources, 20 claims)\n")


def test_a_bad_case_file_stops_the_batch_before_any_fetch(tmp_path: Path, site: Site) -> None:
    good = tmp_path / "good.yml"
    good.write_text(f"case:\n  id: good\n  title: G\nsources:\n  - id: a\n    url: {site.url('/a')}\n", encoding="utf-8")
    bad = tmp_path / "bad.yml"
    bad.write_text("case:\n  id: bad\n  title: B\nsources:\n  - id: a\n    url: gopher://x\n", encoding="utf-8")
    result = khronika("run", str(good), str(bad), "--archive", str(tmp_path / "archive"))
    assert result.code == 2
    assert result.err == (f'error: {bad}:6: sources.0.url: "gopher://x" is not an http or https URL\n'
                          "1 case-file error(s); nothing was fetched or recorded.\n")
    assert site.hits == {}
    assert not (tmp_path / "archive").exists()


def test_refresh_and_offline_together_is_a_usage_error(tmp_path: Path) -> None:
    result = khronika("run", "--refresh", "--offline", "--archive", str(tmp_path / "a"))
    assert result.code == 2
    assert result.err.splitlines()[-1] == "Error: --refresh and --offline contradict each other"


def test_offline_run_never_fetches_and_reports_what_it_could_not_capture(tmp_path: Path, site: Site) -> None:
    case = tmp_path / "c.yml"
    case.write_text(f"case:\n  id: c\n  title: C\nsources:\n  - id: a\n    url: {site.url('/a')}\n", encoding="utf-8")
    result = khronika("run", str(case), "--archive", str(tmp_path / "archive"), "--offline")
    assert result.code == 1
    assert "failed: c/a: never captured, and --offline forbids fetching it" in result.err
    assert site.hits == {}


def test_run_refuses_a_non_empty_folder_that_is_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    result = khronika("run", str(ROOT / "cases" / "workers-power.yml"), "--archive", str(tmp_path))
    assert result.code == 1
    assert result.err.strip() == f"error: {tmp_path} is not empty and not a Khronika archive; refusing to write into it"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
