"""The `lint` command: consistency warnings from one case file, with no network and no database."""

from __future__ import annotations

import sys

import click

from ingest.display import for_terminal
from ingest.errors import CaseFileErrors


@click.command()
@click.argument("case_file", type=click.Path(dir_okay=False))
def lint(case_file: str) -> None:
    """Consistency warnings from a case file alone, before or after a run: no network, no database.

    Claim dates after their source's publication, "as stated" dates no quote states, dates in
    quotes that differ from the claim's, local text documents whose narrative runs backwards,
    near-identical claims, uncited and unused wanted sources.
    Exit 0: no warnings; 3: warnings (printed); 2: the case file is invalid.

    Example: python -m ingest lint cases/workers-power.yml
    """
    from ingest.checks.consistency import check, from_case, unread
    from ingest.claims.cases import load_case

    try:
        case = load_case(case_file)
    except CaseFileErrors as exc:
        for error in exc.errors:
            click.echo(for_terminal(f"error: {error}"), err=True)
        click.echo(f"{len(exc.errors)} case-file error(s); nothing was checked.", err=True)
        sys.exit(2)
    findings = check(*from_case(case))
    for f in findings:
        click.echo(for_terminal(f"warning consistency {f.rule} {f.subject}: {f.detail}"))
    if not_read := unread(case):
        which = ", ".join(f"{sid} ({why})" for sid, why, _ in not_read)
        click.echo(for_terminal(f"lint could not read the text of {sum(n for *_, n in not_read)} source(s), so their narrative was not "
                                f"checked: {which}; verify checks the archived texts after a run"))
    click.echo(for_terminal(f"{case.display_name}: {len(findings)} consistency warning(s); nothing was changed."))
    sys.exit(3 if findings else 0)
