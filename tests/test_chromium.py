"""capture/chromium: Debian's Chromium found and launched through Playwright, in process and in a child process group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from ingest.capture import chromium
from ingest.capture.chromium import BrowserProcess, BrowserUnavailable, JobFailed, launched

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def jobs_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child imports tests/chromium_jobs.py by name; the browser is the Debian one unless a test says otherwise."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), str(HERE.parent)]))
    monkeypatch.delenv(chromium.ENV, raising=False)


def debian_version() -> str:
    out = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]  # "Chromium 156.0.8078.114 built on Debian ..."


def alive_in_group(pgid: int) -> list[str]:
    """Names of the processes (not zombies) whose process group is `pgid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if int(rest[2]) == pgid and rest[0] != "Z":
            found.append(name)
    return found


def cmdlines_in_group(pgid: int) -> list[list[str]]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            rest = text[text.rindex(")") + 2:].split()
            line = (stat.parent / "cmdline").read_bytes()
            if int(rest[2]) == pgid and line:  # a zombie has none
                out.append(line.decode().split("\0"))
        except (OSError, ValueError):
            continue
    return out


def test_flags_are_the_projects() -> None:
    assert chromium.FLAGS == ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                              "--disable-component-update", "--disable-sync", "--no-first-run")


def test_launched_is_debians_browser_with_its_version_and_playwrights() -> None:
    with launched() as (browser, named):
        page = browser.new_page()
        page.set_content("<title>Привет</title><p>x</p>")
        title = page.title()
    assert (named, title) == (f"chromium {debian_version()} (playwright {version('playwright')})", "Привет")


def test_missing_browser_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv(chromium.ENV, str(missing))
    with pytest.raises(BrowserUnavailable) as err:
        chromium.executable()
    assert str(err.value) == f"Chromium not available: no executable at {missing} ($KHRONIKA_CHROMIUM)"

    not_executable = tmp_path / "chromium"
    not_executable.write_text("#!/bin/sh\n")
    monkeypatch.setenv(chromium.ENV, str(not_executable))
    with pytest.raises(BrowserUnavailable) as err:
        chromium.executable()
    assert str(err.value) == f"Chromium not available: no executable at {not_executable} ($KHRONIKA_CHROMIUM)"

    monkeypatch.delenv(chromium.ENV)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(chromium, "DEFAULT", str(missing))
    with pytest.raises(BrowserUnavailable) as err:
        chromium.executable()
    assert str(err.value) == (f"Chromium not available: no `chromium` on PATH or at {missing} "
                              "(Debian: apt-get install chromium)")


def test_a_program_that_is_not_a_browser_did_not_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'no browser here' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(chromium.ENV, str(fake))
    with pytest.raises(BrowserUnavailable) as err:
        with launched():
            pass
    message = str(err.value)
    assert message.startswith(f"Chromium not available: {fake} did not start (") and message.endswith(")")
    assert "\n" not in message


def test_without_playwright_the_message_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # makes the import fail
    with pytest.raises(BrowserUnavailable) as err:
        with launched():
            pass
    assert str(err.value) == "Chromium not available: the Python package playwright is not installed"


def test_browser_process_runs_in_a_group_of_its_own_and_a_job_that_overruns_kills_it() -> None:
    with BrowserProcess("chromium_jobs:handle") as bp:
        first = bp.call({"do": "title", "html": "<title>one</title>"}, limit=30)
        assert bp.version == f"chromium {debian_version()} (playwright {version('playwright')})"
        assert first["title"] == "one" and first["pgid"] == first["pid"] != os.getpgrp()
        groups = [first["pgid"], *bp.groups]
        assert len(bp.groups) == 1 and bp.groups[0] not in (first["pgid"], os.getpgrp())
        browser = [c for c in cmdlines_in_group(bp.groups[0]) if "--type" not in " ".join(c)]
        assert len(browser) == 1 and set(chromium.FLAGS) <= set(browser[0])
        assert "--user-data-dir" in " ".join(browser[0])  # Playwright's own fresh profile

        with pytest.raises(JobFailed) as err:
            bp.call({"do": "spin"}, limit=5)
        assert str(err.value) == "the browser did not finish within 5 s"
        assert (bp.proc, [alive_in_group(g) for g in groups]) == (None, [[], []])

        again = bp.call({"do": "title", "html": "<title>two</title>"}, limit=30)
        assert again["title"] == "two" and again["pid"] != first["pid"]
        groups = [again["pgid"], *bp.groups]
    assert [alive_in_group(g) for g in groups] == [[], []]


def test_a_job_that_raises_is_reported_and_the_browser_serves_the_next() -> None:
    with BrowserProcess("chromium_jobs:handle") as bp:
        with pytest.raises(JobFailed) as err:
            bp.call({"do": "raise"}, limit=30)
        assert str(err.value) == "ValueError: bad job"
        printed = bp.call({"do": "print", "html": "<title>after</title>"}, limit=30)
        assert printed["title"] == "after"
        with pytest.raises(JobFailed) as err:
            bp.call({"do": "exit"}, limit=30)
        assert str(err.value) == "the browser process ended (exit code 3): going away"
        assert bp.call({"do": "title", "html": "<title>fresh</title>"}, limit=30)["pid"] != printed["pid"]


def test_browser_process_without_a_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv(chromium.ENV, str(missing))
    bp = BrowserProcess("chromium_jobs:handle")
    with pytest.raises(BrowserUnavailable) as err:
        bp.call({"do": "title"}, limit=30)
    assert (str(err.value), bp.proc) == (f"Chromium not available: no executable at {missing} ($KHRONIKA_CHROMIUM)",
                                         None)


def test_the_browser_goes_when_its_parent_is_killed() -> None:
    script = ("import sys\n"
              "from ingest.capture.chromium import BrowserProcess\n"
              "bp = BrowserProcess('chromium_jobs:handle')\n"
              "print(bp.call({'do': 'title'}, limit=30)['pgid'], *bp.groups, flush=True)\n"
              "sys.stdin.read()\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert parent.stdout is not None
    groups = [int(g) for g in parent.stdout.readline().split()]
    assert len(groups) == 2 and all(alive_in_group(g) for g in groups)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(alive_in_group(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [alive_in_group(g) for g in groups] == [[], []]
