"""The `witness` command: what other web archives hold of each cited URL, quote by quote."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ingest.cli_options import extract_limits, fetch_config, worker_limits
from ingest.cli_echo import echo
from ingest.errors import KhronikaError, WitnessConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@click.command()
@click.argument("case_id", required=False)
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False))
@click.option("--memento-archive", "bases", multiple=True, metavar="URL",
              help="A Wayback-style archive to ask instead of the configured ones (its TimeMap is "
                   "URL/timemap/link/<page>); repeatable.")
@click.option("--config", "config", default=None, type=click.Path(dir_okay=False),
              help="The archives to ask, as JSON (default: ARCHIVE/witnesses.json when it exists, "
                   "else the Internet Archive and archive.today).")
@click.option("--submit", is_flag=True, help="First ask each archive that takes submissions to capture the URL now "
                                             "(Save Page Now style); every request is recorded.")
@click.option("--max-timemap", type=click.IntRange(1), default=16 * 2**20, show_default=True,
              help="Largest TimeMap accepted, in bytes as received.")
@click.option("--max-mementos", type=click.IntRange(1), default=100_000, show_default=True,
              help="Most entries read from one TimeMap.")
@click.option("--timeout", type=click.FloatRange(0.1), default=120.0, show_default=True,
              help="Total seconds allowed for one fetch, redirects included.")
@click.option("--max-body", type=click.IntRange(1), default=64 * 2**20, show_default=True,
              help="Largest memento accepted, in bytes as received.")
@click.option("--proxy", default=None, help="HTTP or SOCKS proxy URL for every request to the archives.")
@click.option("--user-agent", default=None, help="User-Agent header sent with every request.")
@click.option("--allow-private", is_flag=True, help="Allow private and loopback addresses (also KHRONIKA_ALLOW_PRIVATE=1).")
@click.option("--wait", type=click.FloatRange(0), default=0.0, help="Seconds to wait for another process holding the archive.")
@extract_limits
def witness(case_id: str | None, archive_dir: str, bases: tuple[str, ...], config: str | None, submit: bool,
            max_timemap: int, max_mementos: int, timeout: float, max_body: int, proxy: str | None,
            user_agent: str | None, allow_private: bool, wait: float, extract_cpu: int, extract_memory: int,
            extract_timeout: float) -> None:
    """Ask other web archives what they hold of each cited URL, and look for every quote there.

    For each URL source a claim of CASE_ID (every case when omitted) cites, each archive's
    TimeMap (Memento, RFC 7089) is read, the mementos closest before and after our capture are
    fetched raw (`id_` where the archive allows) with the fetch safety of any capture and kept
    (WARC, hashes, text), and each citation's quote is looked for: witnessed, differs (with a
    diff), absent, no_memento or unreachable. Everything is logged; a claim's status never
    changes. A memento that is the archive's own page, that redirects elsewhere, or a TimeMap
    that is malformed or too large is recorded as such and never counts. --submit (off by
    default) first asks the archives to capture each URL, no faster than the configured
    interval. Exit 0: every citation got an answer; 1: some archive could not be read
    (unreachable), or a submission failed; 2: usage or configuration error.

    Example: python -m ingest witness workers-power --memento-archive https://web.archive.org/web/
    """
    from ingest.capture.archives import configured
    from ingest.checks.witness import WitnessOptions
    from ingest.checks.witness import witness as run_witness
    from ingest.cli_timestamp import stamp_lines
    from ingest.store.archive import Archive

    try:
        with Archive.open(Path(archive_dir), create=False, wait=wait) as archive:
            specs, interval = configured(archive.root, Path(config) if config else None, bases)
            known = [r[0] for r in archive.db.execute("SELECT id FROM cases ORDER BY id").fetchall()]
            if case_id is not None and case_id not in known:
                echo(f'error: no case "{case_id}" in this archive (cases: {", ".join(known) or "none"})', err=True)
                sys.exit(EXIT_USAGE)
            options = WitnessOptions(
                archives=specs, fetch=fetch_config(proxy, allow_private, user_agent, total_timeout=timeout,
                                                   max_body=max_body)(),
                max_timemap=max_timemap, max_mementos=max_mementos, submit=submit, submit_interval=interval,
                limits=worker_limits(extract_cpu, extract_memory, extract_timeout))
            echo("asking " + ", ".join(s.name for s in specs), err=True)
            report = run_witness(archive, case_id, options, progress=_show)
            stamped = stamp_lines(archive, [])[0]
            head = archive.log.head()
    except WitnessConfigError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except KhronikaError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for s in report.submissions:
        echo(f"{'submitted' if s['outcome'] == 'submitted' else 'not submitted'} {s['source_id']} to {s['archive']}: "
             f"{s['memento_url'] or s['detail']}")
    for sid, method in report.not_asked:
        echo(f"not asked: {sid}: captured by {method}; witnesses are compared with HTTP captures only")
    counts = report.counts()
    echo(f"{len(report.checks)} witness check(s) of {report.sources} source(s) in {len(specs)} archive(s): "
         + ", ".join(f"{n} {what}" for what, n in counts.items())
         + ". Witnesses never change a claim's status.")
    for line in stamped:
        echo(line, err=True)
    echo(f"log head {head}")
    refused = any(s["outcome"] != "submitted" for s in report.submissions)
    sys.exit(EXIT_FAILED if counts["unreachable"] or refused else EXIT_OK)


def _show(row: dict[str, Any]) -> None:
    echo(f"{row['result']:<12} {row['citation_id']} in {row['archive']}: {row['detail']}")
