"""Commands for writing case files: `quote` (words in a source's archived text, the citation to paste), `add-source`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ingest.claims.cases import SOURCE_KINDS, STANCES, Case, load_case
from ingest.cli_echo import echo
from ingest.errors import CaseFileErrors

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _case(case_file: str) -> Case:
    try:
        return load_case(Path(case_file))
    except CaseFileErrors as exc:
        for e in exc.errors:
            echo(f"error: {e}", err=True)
        echo(f"{len(exc.errors)} case-file error(s).", err=True)
        sys.exit(EXIT_USAGE)


@click.command()
@click.argument("case_file", type=click.Path(dir_okay=False))
@click.argument("source_id")
@click.argument("words", required=False)
@click.option("--claim", "claim_id", help="Search with this claim's text instead of WORDS.")
@click.option("--stance", type=click.Choice(STANCES), default="mentions", show_default=True,
              help="The stance written into the offered citation (choose it yourself).")
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False),
              help="The archive to read (never written).")
def quote(case_file: str, source_id: str, words: str | None, claim_id: str | None, stance: str, archive_dir: str) -> None:
    """Find WORDS in the archived text of one source, and print the citation to paste.

    Searches the text of the source's latest capture (its latest extraction) the way `run`
    anchors quotes: exactly, then after normalising (quotes, dashes, case, whitespace, ё),
    then approximately. Each passage is shown with its page and context and a YAML citation
    block, anchored again before it is shown (with `prefix:` when the words occur more than
    once). When nothing is found, the nearest passages are shown with what differs; they do
    not count as found. Exit 0 when a citation anchors, 1 when not, 2 for a bad case file.

    Example: python -m ingest quote cases/workers-power.yml statement "pre-trial detention"
    """
    from ingest.claims.finder import NoText, find, latest_text, report

    case = _case(case_file)
    if source_id not in {s.id for s in case.sources}:
        known = ", ".join(s.id for s in case.sources)
        raise click.UsageError(f'{case.display_name}: no source "{source_id}" (known: {known})')
    if (words is None) == (claim_id is None):
        raise click.UsageError("give WORDS or --claim CLAIM_ID (one of them)")
    if claim_id is not None:
        claim = next((c for c in case.claims if c.id == claim_id), None)
        if claim is None:
            known = ", ".join(c.id for c in case.claims) or "none"
            raise click.UsageError(f'{case.display_name}: no claim "{claim_id}" (known: {known})')
        words = claim.text
    assert words is not None
    try:
        text = latest_text(Path(archive_dir), f"{case.id}/{source_id}")
    except NoText as exc:
        echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finding = find(text, source_id, words, stance)
    for line in report(text, finding):
        echo(line)
    sys.exit(EXIT_OK if finding.found else EXIT_FAILED if finding.words.strip() else EXIT_USAGE)


@click.command("add-source")
@click.argument("case_file", type=click.Path(dir_okay=False))
@click.argument("target", metavar="(URL | PATH)")
@click.option("--id", "source_id", required=True, help="The new source's id (a slug, unique in the case).")
@click.option("--title", help="The source's title.")
@click.option("--kind", type=click.Choice(SOURCE_KINDS), help="The kind of source.")
@click.option("--no-capture", is_flag=True, help="Only add it to the case file; capture later with `run`.")
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False),
              help="The archive `run` captures into.")
@click.pass_context
def add_source(ctx: click.Context, case_file: str, target: str, source_id: str, title: str | None, kind: str | None,
               no_capture: bool, archive_dir: str) -> None:
    """Add a source (an http(s) URL, or a local file) to CASE_FILE, then capture it with `run`.

    The block goes after the last source; every other byte of the file is kept (comments,
    order, quoting). The result is validated like any case file first: a duplicate id, a URL
    with credentials, a missing file or a path outside the case file's folder is refused and
    the file is left untouched (exit 2). A PATH is taken relative to the current folder when
    it exists there, and written relative to the case file's folder.

    Example: python -m ingest add-source cases/workers-power.yml https://example.org/a --id a-report --kind report
    """
    from ingest.claims.addsource import add_source as add

    try:
        added = add(Path(case_file), target, source_id, title, kind)
    except CaseFileErrors as exc:
        for e in exc.errors:
            echo(f"error: {e}", err=True)
        echo(f"{case_file} was not changed.", err=True)
        sys.exit(EXIT_USAGE)
    echo(f"added source {added.source_id} ({added.key} {added.value}) to {case_file} at line {added.line}")
    if no_capture:
        echo(f"capture it with: python -m ingest run {case_file} --archive {archive_dir}")
        sys.exit(EXIT_OK)
    run = ctx.find_root().command.get_command(ctx, "run")  # type: ignore[attr-defined]
    ctx.invoke(run, case_files=(case_file,), archive_dir=archive_dir)
