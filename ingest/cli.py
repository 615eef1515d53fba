"""The command line: parse options, call the library, show progress, translate errors into exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ingest import __version__
from ingest.cli_authoring import add_source, quote
from ingest.cli_echo import HeldLines, echo, echo_lines
from ingest.cli_lint import lint
from ingest.cli_telegram import telegram_api_config, telegram_api_option, telegram_list, telegram_login
from ingest.cli_options import (
    browser_options,
    browser_settings,
    extract_limits,
    fetch_config,
    fetch_network,
    recording_options,
    visibility_option,
    worker_limits,
)
from ingest.cli_timestamp import parse_tsas, stamp_lines, timestamp, tsa_options
from ingest.cli_witness import witness
from ingest.display import for_terminal, json_for_terminal
from ingest.errors import ArchiveError, CaseFileErrors, KhronikaError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _print_results(report: Any) -> None:
    """What verify and verify-bag both print: each check that is not ok, the gaps, the warnings, the counts."""
    for check in report.checks:
        if check.state != "ok":
            finding = f" [{check.finding}]" if check.finding else ""
            echo(f"{check.state:<12} {check.check:<15} {check.subject}{finding}: {check.detail}")
    for gap in report.gaps:
        echo(f"gap          {gap}")
    for w in report.warnings:  # never in the exit code: a person weighs them
        echo(f"warning consistency {w.rule} {w.subject}: {w.detail}")
    counts = ", ".join(f"{n} {state}" for state, n in report.counts().items())
    echo(f"{len(report.checks)} checks: {counts}. {len(report.gaps)} gap(s) (wanted sources).")
    if report.findings():
        echo("findings: " + ", ".join(f"{n} {what}" for what, n in report.findings().items()) + ".")


def _case_files(paths: tuple[str, ...]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    found = sorted(Path("cases").glob("*.yml"))
    if not found:
        raise click.UsageError("no case files given and none found in cases/*.yml")
    return found


def _load_cases(paths: list[Path]) -> list:
    from ingest.claims.cases import load_case

    cases, errors = [], []
    for path in paths:
        try:
            cases.append(load_case(path))
        except CaseFileErrors as exc:
            errors.extend(str(e) for e in exc.errors)
    ids: dict[str, str] = {}
    for case in cases:
        if case.id in ids:
            errors.append(f"{case.display_name}: case.id: \"{case.id}\" is also the id of {ids[case.id]}")
        ids[case.id] = case.display_name
    if errors:
        for line in errors:
            echo(f"error: {line}", err=True)
        echo(f"{len(errors)} case-file error(s); nothing was fetched or recorded.", err=True)
        sys.exit(EXIT_USAGE)
    return cases


@click.group()
@click.version_option(__version__, prog_name="khronika")
def cli() -> None:
    """Khronika: archive a case's sources byte-for-byte and prove where every claim comes from."""


@cli.command()
@click.argument("case_files", nargs=-1, type=click.Path(dir_okay=False))
def check(case_files: tuple[str, ...]) -> None:
    """Validate case files only: no network, no database.

    Example: python -m ingest check cases/workers-power.yml
    """
    cases = _load_cases(_case_files(case_files))
    for case in cases:
        echo(f"{case.display_name}: ok ({len(case.sources)} sources, {len(case.claims)} claims)")


@cli.command()
@click.argument("case_files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False),
              help="Archive folder; the database is ARCHIVE/archive.db.")
@click.option("--refresh", is_flag=True, help="Re-fetch every URL source and record whether it changed.")
@click.option("--offline", is_flag=True, help="Touch no network; record local files and rebuild what archived files allow.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Extraction worker processes.")
@click.option("--timeout", type=click.FloatRange(0.1), default=120.0, show_default=True, help="Total seconds allowed for one fetch, redirects included.")
@click.option("--connect-timeout", type=click.FloatRange(0.1), default=15.0, show_default=True, help="Seconds to connect.")
@click.option("--read-timeout", type=click.FloatRange(0.1), default=30.0, show_default=True, help="Seconds to wait for the next bytes.")
@click.option("--max-body", type=click.IntRange(1), default=64 * 2**20, show_default=True, help="Largest body accepted, in bytes as received.")
@click.option("--max-decoded", type=click.IntRange(1), default=256 * 2**20, show_default=True, help="Largest body after removing Content-Encoding.")
@click.option("--max-redirects", type=click.IntRange(0), default=10, show_default=True)
@click.option("--max-local", type=click.IntRange(1), default=64 * 2**20, show_default=True, help="Largest local document, in bytes, counted while reading.")
@click.option("--proxy", default=None, help="HTTP or SOCKS proxy URL (socks5h://127.0.0.1:9050 for Tor); names are then resolved by the proxy.")
@click.option("--user-agent", default=None, help="User-Agent header sent with every request.")
@click.option("--allow-private", is_flag=True, help="Allow private and loopback addresses (also KHRONIKA_ALLOW_PRIVATE=1).")
@fetch_network
@extract_limits
@recording_options
@click.option("--no-ocr", is_flag=True, help="Do not OCR images and PDF pages without a text layer; their quotes are unverifiable.")
@click.option("--wait", type=click.FloatRange(0), default=0.0, help="Seconds to wait for another run holding the archive.")
@browser_options
@visibility_option
@tsa_options
@telegram_api_option
def run(case_files: tuple[str, ...], archive_dir: str, refresh: bool, offline: bool, workers: int, timeout: float,
        connect_timeout: float, read_timeout: float, max_body: int, max_decoded: int, max_redirects: int,
        max_local: int, proxy: str | None, user_agent: str | None, allow_private: bool, ca_file: str | None,
        resolve: dict, extract_cpu: int, extract_memory: int,
        extract_timeout: float, rehash: bool, commit_every: int, commit_seconds: float, no_ocr: bool,
        wait: float, browser_mode: str, visibility: str,
        tsa_urls: tuple[str, ...], tsa_certs: tuple[str, ...], telegram_api: str | None, **browser: Any) -> None:
    """Capture, extract and record every source of the case files; anchor their claims.

    By default only sources never captured are fetched; --refresh re-fetches URL sources to
    record changes. When the run appended to the log, its head is timestamped by each TSA given
    (or kept from an earlier --tsa); a TSA that fails is reported and changes no exit code.
    The summary names every claim that is not sourced (with the reason) and
    every claim whose drift changed in this run. Exit 0: every source captured or unchanged;
    1: some failed, or a capture is incomplete (its page's text is not in it), each listed;
    2: case-file or usage error, nothing fetched.

    Example: python -m ingest run cases/workers-power.yml --archive archive
    """
    from ingest.pipeline import FAILED, RunOptions
    from ingest.pipeline import run as run_pipeline
    from ingest.store.archive import Archive

    if refresh and offline:
        raise click.UsageError("--refresh and --offline contradict each other")
    cases = _load_cases(_case_files(case_files))
    tsas = parse_tsas(tsa_urls, tsa_certs)

    fetching = fetch_config(proxy, allow_private, user_agent, ca_file, resolve, max_body=max_body, max_decoded=max_decoded,
                                 connect_timeout=connect_timeout, read_timeout=read_timeout,
                                 total_timeout=timeout, max_redirects=max_redirects)
    options = RunOptions(
        refresh=refresh, offline=offline, rehash=rehash, fetch=fetching, workers=workers, max_local=max_local,
        ocr=not no_ocr, group_sources=commit_every, group_seconds=commit_seconds,
        visibility=visibility, limits=worker_limits(extract_cpu, extract_memory, extract_timeout),
        browser=browser_settings(**browser), browser_mode=browser_mode,
        telegram_api=telegram_api_config(telegram_api, archive_dir, cases),
    )
    tty = sys.stderr.isatty()

    total = sum(len(case.sources) for case in cases)
    done = 0
    held = HeldLines()

    def progress(result) -> None:  # type: ignore[no-untyped-def]
        nonlocal done
        done += 1
        line = f"{result.state:<9} {result.source_id}: {result.detail}"
        if tty:  # one line that redraws: a bar and the latest source; failures stay on screen
            width = 20
            filled = width * done // max(total, 1)
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            click.echo("\r\033[K" + for_terminal(bar + line)[: os.get_terminal_size(2).columns - 1], err=True,
                       nl=result.state == FAILED)
        else:
            held.add(line)

    try:
        with Archive.open(Path(archive_dir), create=True, wait=wait) as archive:
            for message in archive.recovery.messages():
                echo(f"recovered: {message}", err=True)
            try:
                report = run_pipeline(cases, archive, options, progress)
            finally:
                held.flush()
            if tty:
                click.echo("\r\033[K", err=True, nl=False)
            stamped, _ = stamp_lines(archive, tsas, offline)
            head = archive.log.head()
    except KhronikaError as exc:
        if tty:
            click.echo("", err=True)
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    echo_lines([f"failed: {failure.source_id}: {failure.detail}" for failure in report.failed]
               + [f"extraction failed: {failure}" for failure in report.extraction_failures]
               + [f"incomplete: {line}" for line in report.incomplete]
               + [f"note: {note}" for note in report.notes] + stamped
               + [f"not sourced: {claim_id}: {status}: {reason}" for claim_id, status, reason in report.not_sourced]
               + [f"drift: {claim_id}: {was} -> {now}" + (f" since {since}" if since else "") + (f": {reason}" if reason else "")
                  for claim_id, was, now, since, reason in report.drift_changes], err=True)
    claims = ", ".join(f"{n} {status}" for status, n in sorted(report.claims.items())) or "none"
    drifted = ", ".join(f"{n} {kind}" for kind, n in sorted(report.drift.items()))
    echo(
        f"{report.count('new')} new capture(s), {report.count('unchanged')} unchanged, "
        f"{report.count('kept')} kept without fetching, {report.count('failed')} failed, "
        f"{report.count('wanted')} wanted{f', {len(report.incomplete)} incomplete' if report.incomplete else ''}. "
        f"Claims: {claims}" + (f"; live sources drifted: {drifted}." if drifted else "."),
        err=True,
    )
    echo(f"log head {head}")
    if report.failed or report.extraction_failures or report.incomplete:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False))
@click.option("--live", is_flag=True, help="Re-fetch URL sources (recorded as --refresh does) and look for each quote in the live version.")
@click.option("--head", "head_text", default=None, metavar="SEQ:HEX", help="A chain head published earlier: the log must still pass through it.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option("--proxy", default=None, help="Proxy for --live fetches.")
@click.option("--allow-private", is_flag=True, help="Allow private addresses for --live fetches.")
@fetch_network
@click.option("--wait", type=click.FloatRange(0), default=0.0, help="Seconds to wait for another process holding the archive.")
@extract_limits
def verify(archive_dir: str, live: bool, head_text: str | None, as_json: bool, proxy: str | None, allow_private: bool,
           ca_file: str | None, resolve: dict, wait: float, extract_cpu: int, extract_memory: int, extract_timeout: float) -> None:
    """Check the archive: fixity, reproducibility, quotes, log chain, and optionally live sources.

    Each check ends ok, mismatch, missing, unverifiable or drift, with a reason. A passing
    quote check shows that the quoted words are present in an intact archived copy of the
    source captured at the recorded time; it does not show that the claim is true. Drift is
    what a later capture or attempt of a source showed (held in the archive, no network
    needed; found anew with --live). Exit codes, the first that applies: 1 something is a
    mismatch or missing; 4 something could not be checked; 3 drift; 0 all ok.

    Example: python -m ingest verify --head 42:3f0c...e1
    """
    import json as jsonlib

    from ingest.checks.verify import verify as run_verify
    from ingest.pipeline import RunOptions
    from ingest.store.archive import Archive
    from ingest.store.log import Head

    head = None
    if head_text:
        try:
            head = Head.parse(head_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--head") from None
    try:
        with Archive.open(Path(archive_dir), create=False, wait=wait) as archive:
            options = RunOptions(refresh=True, fetch=fetch_config(proxy, allow_private, ca_file=ca_file, resolve=resolve))
            report = run_verify(archive, head=head, live=live, live_options=options,
                                limits=worker_limits(extract_cpu, extract_memory, extract_timeout),
                                progress=None if as_json else lambda s: echo(f"checking {s} ...", err=True))
            stamped = stamp_lines(archive, [])[0] if live else []
            final_head = archive.log.head()
    except KhronikaError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if as_json:
        click.echo(json_for_terminal(jsonlib.dumps(report.as_json(), ensure_ascii=False, indent=1)))
    else:
        _print_results(report)
        echo("A passing quote check means the quoted words are present in an intact archived copy "
             "captured at the recorded time; it does not mean the claim is true.")
        echo(report.trusted_time)
        for line in report.ots + report.witnesses:
            echo(line)
        for line in stamped:
            echo(line, err=True)
        echo(f"log head {final_head}")
    sys.exit(report.exit_code())


@cli.command()
@click.argument("case_id")
@click.option("--out", "out", required=True, type=click.Path(),
              help="Bag folder to create; a path ending in .zip writes only the zipped bag.")
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False))
@click.option("--zip", "as_zip", is_flag=True, help="Also write OUT.zip holding the bag.")
@click.option("--wacz", is_flag=True, help="Also write OUT.wacz from the case's WARC records (needs the wacz package).")
@click.option("--organization", default=None, help="bag-info Source-Organization (else KHRONIKA_ORGANIZATION, else unknown).")
@click.option("--contact", default=None, help='bag-info contact, "Name <email>" (else KHRONIKA_CONTACT, else unknown).')
@click.option("--wait", type=click.FloatRange(0), default=0.0, help="Seconds to wait for another process holding the archive.")
@tsa_options
def export(case_id: str, out: str, archive_dir: str, as_zip: bool, wacz: bool, organization: str | None,
           contact: str | None, wait: float, tsa_urls: tuple[str, ...], tsa_certs: tuple[str, ...]) -> None:
    """Export one case as a signed BagIt evidence package that verify-bag checks without the archive.

    Runs verify on the archive first and includes its results. Signs with ARCHIVE/keys/ed25519.key
    (created on first use, never put in the bag) and prints the key's fingerprint: publish it
    elsewhere, since trust in the signature comes from that fingerprint. A log head not yet
    covered by a timestamp is first timestamped by the configured TSAs, and the bag carries
    every token with its certificates and pins.

    Example: python -m ingest export workers-power --out workers-power-bag --zip
    """
    from ingest.evidence.export import ExportOptions, export_case, parse_contact
    from ingest.store.archive import Archive

    tsas = parse_tsas(tsa_urls, tsa_certs)
    name, email = parse_contact(contact or os.environ.get("KHRONIKA_CONTACT"))
    options = ExportOptions(
        organization=organization or os.environ.get("KHRONIKA_ORGANIZATION") or "unknown",
        contact_name=name, contact_email=email, zip=as_zip, wacz=wacz, wait=wait,
    )
    try:
        with Archive.open(Path(archive_dir), create=False, wait=wait) as archive:
            for line in stamp_lines(archive, tsas)[0]:
                echo(line, err=True)
        result = export_case(Path(archive_dir), case_id, Path(out), options)
    except KhronikaError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in result.counts.items())
    for label, path in (("bag", result.bag), ("zip", result.zip), ("wacz", result.wacz)):
        if path is not None:
            echo(f"{label} {path}")
    echo(f"contents: {counts}", err=True)
    echo(f"log head {result.head}")
    echo(f"key fingerprint {result.key_fingerprint}")
    echo("Publish the key fingerprint somewhere the bag's recipients can check it independently "
               "(verify-bag --key-fingerprint FP).", err=True)


@cli.command("verify-bag")
@click.argument("path", type=click.Path(exists=True))
@click.option("--key-fingerprint", default=None, metavar="HEX", help="The signing key's published fingerprint.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@extract_limits
def verify_bag(path: str, key_fingerprint: str | None, as_json: bool, extract_cpu: int, extract_memory: int,
               extract_timeout: float) -> None:
    """Check an evidence package (bag folder or zip) with no network and no archive.

    The first line says what the signature shows; then each check that is not ok, naming the
    file in the bag or the claim/citation concerned. Texts are re-extracted in sandboxed workers
    (the --extract-* limits), and only when the signature is valid. A passing quote check shows
    that the quoted words are present in an intact archived copy of the source captured at the
    recorded time; it does not show that the claim is true.

    Exit 0: all ok and the key is the one given with --key-fingerprint; 1: something is a
    mismatch or missing (a failed signature, another key, an altered file); 4: something could
    not be checked; 3: the package records drift (a source changed or vanished after its
    archived copy) and nothing worse; 5: all checks pass but no --key-fingerprint was given, so anyone could have
    made the bag.
    Drift is listed per citation; exit codes, the first that applies: 1, 5, 4, 3, 0.

    Example: python -m ingest verify-bag workers-power-bag.zip --key-fingerprint 3f0c...e1
    """
    import json as jsonlib

    from ingest.evidence.bagverify import verify_bag as run_verify_bag

    report = run_verify_bag(Path(path), key_fingerprint, worker_limits(extract_cpu, extract_memory, extract_timeout))
    if as_json:
        click.echo(json_for_terminal(jsonlib.dumps(report.as_json(), ensure_ascii=False, indent=1)))
    else:
        echo(report.headline())
        _print_results(report)
        echo(report.trusted_time)
        for line in report.ots + report.witnesses:
            echo(line)
        echo("A passing quote check means the quoted words are present in an intact archived copy "
             "captured at the recorded time; it does not mean the claim is true.")
    sys.exit(report.exit_code())


@cli.command()
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; 0.0.0.0 makes the site public.")
@click.option("--allow-sql", is_flag=True, help="Let visitors run any SQL (?sql=, _where=): only with --host 127.0.0.1.")
def serve(archive_dir: str, port: int, host: str, allow_sql: bool) -> None:
    """Serve the archive's published copy with Datasette (read-only; rebuilt when the archive changed).

    The site runs its own pages and canned queries only: no SQL written by a visitor, each query
    stopped after 2 s, no value over 256 MiB. --allow-sql, for the operator on this machine, is
    refused unless the site listens on 127.0.0.1 only.

    While it runs, it looks at the archive every second: when a run or verify has changed it,
    the copy is republished and the site restarted on it within a few seconds (pages show a
    banner meanwhile). Ctrl-C and SIGTERM both stop Datasette too.

    Example: python -m ingest serve --archive archive --port 8001
    """
    from ingest.site.publish import ensure_snapshot
    from ingest.site.serve import refusal
    from ingest.site.serve import serve as run_server

    why = refusal(host, allow_sql)
    if why is not None:
        raise click.UsageError(why)

    try:
        snap = ensure_snapshot(Path(archive_dir))
    except KhronikaError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    if snap.rebuilt:
        scrubbed = f"; {snap.scrubbed} value(s) naming this machine removed" if snap.scrubbed else ""
        echo(f"published copy rebuilt: {snap.reason}{scrubbed}", err=True)
    else:
        echo("published copy is current", err=True)
    echo(f"serving http://{host}:{port}/" + (" (arbitrary SQL allowed: --allow-sql)" if allow_sql else ""), err=True)
    sys.exit(run_server(Path(archive_dir), host, port, allow_sql, say=lambda s: echo(s, err=True)))


for command in (lint, timestamp, quote, add_source, witness, telegram_login, telegram_list):  # modules of their own: this one stays thin
    cli.add_command(command)


def main() -> None:
    try:
        cli(prog_name="python -m ingest")
    except ArchiveError as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
