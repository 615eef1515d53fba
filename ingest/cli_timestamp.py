"""The `timestamp` command and the --tsa/--tsa-cert options that `run` and `export` share with it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ingest.display import for_terminal
from ingest.errors import KhronikaError

EXIT_FAILED = 1


def tsa_options(command: Any) -> Any:
    """--tsa URL --tsa-cert PEM, repeatable in pairs."""
    command = click.option("--tsa-cert", "tsa_certs", multiple=True, metavar="PEM", type=click.Path(dir_okay=False),
                           help="The certificate (or trust anchor) to pin for the --tsa before it; kept in the archive.")(command)
    return click.option("--tsa", "tsa_urls", multiple=True, metavar="URL",
                        help="RFC 3161 time-stamping authority; repeatable, each followed by --tsa-cert.")(command)


def parse_tsas(urls: tuple[str, ...], certs: tuple[str, ...]) -> list:
    from ingest.store.timestamps import parse_pairs
    from ingest.store.tsa import TimestampError

    try:
        return parse_pairs(urls, certs)
    except TimestampError as exc:
        raise click.UsageError(str(exc)) from None


def stamp_lines(archive: Any, tsas: list, offline: bool = False, calendars: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    """Timestamp the head with the given (else the archive's) TSAs and calendars: what happened, and
    whether all went well."""
    from ingest.store.timestamps import configured, stamp_after
    from ingest.store.tsa import TimestampError

    try:
        use_tsas, use_calendars = configured(archive, tsas, calendars)
        return stamp_after(archive, use_tsas, offline, use_calendars)
    except TimestampError as exc:
        return [f"timestamp failed: {exc}"], False


@click.command()
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False))
@tsa_options
@click.option("--ots-calendar", "calendars", multiple=True, metavar="URL",
              help="OpenTimestamps calendar to submit the head to as well (optional second witness; kept).")
@click.option("--upgrade", is_flag=True, help="Ask the calendars of pending OpenTimestamps proofs for their Bitcoin attestation.")
@click.option("--wait", type=click.FloatRange(0), default=0.0, help="Seconds to wait for another process holding the archive.")
def timestamp(archive_dir: str, tsa_urls: tuple[str, ...], tsa_certs: tuple[str, ...], calendars: tuple[str, ...],
              upgrade: bool, wait: float) -> None:
    """Timestamp the log head at each TSA (RFC 3161) and keep the checked tokens in the archive.

    The TSAs come from --tsa URL --tsa-cert PEM pairs (the PEM is the TSA's certificate or the
    trust anchor to pin; kept in ARCHIVE/timestamping.json) or from an earlier run. Each token
    is checked against its pin before it is kept. OpenTimestamps calendars (--ots-calendar) add
    a pending proof each; --upgrade completes pending proofs later. Exit 0: every TSA and
    calendar answered, or the head is covered already; 1: one failed, or none is configured.

    Example: python -m ingest timestamp --tsa https://tsa.example/tsr --tsa-cert tsa-ca.pem
    """
    from ingest.store.archive import Archive

    tsas = parse_tsas(tsa_urls, tsa_certs)
    try:
        with Archive.open(Path(archive_dir), create=False, wait=wait) as archive:
            if upgrade:
                from ingest.store.timestamps import upgrade_pending

                lines, covered = upgrade_pending(archive)
            else:
                lines, covered = stamp_lines(archive, tsas, calendars=calendars)
            head = archive.log.head()
    except KhronikaError as exc:
        click.echo(for_terminal(f"error: {exc}"), err=True)
        sys.exit(EXIT_FAILED)
    for line in lines or [f"log head {head} is covered by a timestamp already"]:
        click.echo(for_terminal(line), err=True)
    click.echo(f"log head {head}")
    if not covered:
        sys.exit(EXIT_FAILED)
