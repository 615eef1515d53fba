"""Telegram's commands: `run --telegram-api CONFIG.json`, `telegram-login`, and `telegram-list` (a channel's posts by id or date)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ingest.cli_options import fetch_config, fetch_network
from ingest.display import for_terminal

EXIT_USAGE = 2


def telegram_api_option(f: Any) -> Any:
    return click.option(
        "--telegram-api", "telegram_api", default=None, metavar="CONFIG.json", type=click.Path(dir_okay=False),
        help="Off by default. Posts whose web preview shows nothing are then read through the Telegram API with "
             "the logged-in session CONFIG names (api_id, api_hash, session); see the README's opsec cost.")(f)


def _refuse(message: str) -> None:
    click.echo(for_terminal(f"error: {message}"), err=True)
    sys.exit(EXIT_USAGE)


def telegram_api_config(path: str | None, archive_dir: str, cases: list[Any]) -> Any:
    """The mode's ApiConfig, or None when not asked for; a clear error and exit 2 when it cannot be used."""
    if path is None:
        return None
    from ingest.capture.tgapi import TelegramApiError, load_config

    forbidden = [("the archive folder", Path(archive_dir))] + [(f"the folder of case file {c.display_name}", c.folder)
                                                               for c in cases]
    try:
        return load_config(Path(path), forbidden)
    except TelegramApiError as exc:
        _refuse(str(exc))


async def _login(config: Any) -> Any:
    from telethon import TelegramClient
    from telethon.sessions import SQLiteSession

    client = TelegramClient(SQLiteSession(str(config.session)), config.api_id, config.api_hash,
                            receive_updates=False, flood_sleep_threshold=0, connection_retries=0)
    try:
        await client.start()  # interactive: phone, code, two-step password
        return await client.get_me(input_peer=True)
    finally:
        await client.disconnect()


@click.command("telegram-login")
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--archive", "archive_dir", default="archive", show_default=True, type=click.Path(file_okay=False),
              help="The archive the session must stay out of.")
def telegram_login(config_file: str, archive_dir: str) -> None:
    """Log in to Telegram once and write the session file that `run --telegram-api` uses.

    Asks for the phone number, the login code Telegram sends and the two-step password, here and
    never inside a run. The session file is a full login to the account: use a dedicated account,
    keep the file outside every archive and case folder (a path inside either is refused), and
    revoke it in Telegram's "Active sessions" when done. Exit 0: logged in; 2: not.

    Example: python -m ingest telegram-login ~/.config/khronika/telegram.json
    """
    import asyncio

    config = telegram_api_config(config_file, archive_dir, [])
    try:
        me = asyncio.run(_login(config))
    except Exception as exc:  # noqa: BLE001 - any failure of the login is said in one line
        _refuse(f"not logged in: {type(exc).__name__}: {exc}")
    if me is None:
        _refuse("not logged in")
    config.session.chmod(0o600)
    click.echo(for_terminal(f"logged in; session written to {config.session} (mode 600). It is a full login to the "
                            "account: keep it outside any archive or case folder, and revoke it when done."))


@click.command("telegram-list")
@click.argument("channel")
@click.option("--from", "first", required=True, metavar="ID|YYYY-MM-DD", help="The oldest post: an id, or a UTC day.")
@click.option("--to", "last", required=True, metavar="ID|YYYY-MM-DD", help="The newest post: an id, or a UTC day.")
@click.option("--base", default="https://t.me", show_default=True, help="The web preview's address.")
@click.option("--add", "case_file", default=None, type=click.Path(dir_okay=False), metavar="CASE_FILE",
              help="Add the posts listed to CASE_FILE as one channel range source (telegram: {channel, from, to}).")
@click.option("--id", "source_id", default=None, help="The range's source id with --add (default: the channel's name).")
@click.option("--allow-private", is_flag=True, help="Allow private addresses (also KHRONIKA_ALLOW_PRIVATE=1).")
@fetch_network
def telegram_list(channel: str, first: str, last: str, base: str, case_file: str | None, source_id: str | None,
                  allow_private: bool, ca_file: str | None, resolve: dict) -> None:
    """List a public channel's posts between two ids or dates, from its web preview pages.

    Reads /s/CHANNEL and /s/CHANNEL?before=ID, newest first, until the lower bound; prints one
    line per post (id, date, first words). Dates are UTC days, both bounds included. With --add
    the listed posts' ids, from the lowest to the highest, become one channel range source in
    CASE_FILE (every other byte kept; ids in between that are no post are attempts in `run`).
    Nothing is archived: `run` captures each post. Exit 0: posts listed; 1: none, or a page
    could not be read; 2: usage or case-file error.

    Example: python -m ingest telegram-list ovdinfo --from 2025-05-01 --to 2025-05-31 --add cases/x.yml --id ovd-may
    """
    import datetime as dt

    from ingest.capture.telegram import CHANNEL
    from ingest.capture.tglist import ListingError, bound, list_posts
    from ingest.errors import CaseFileErrors, FetchFailed

    name = channel.lstrip("@")
    if not CHANNEL.fullmatch(name):
        _refuse(f'"{channel}" is not a channel username (letters, digits, _)')
    try:
        low, high = bound(first, "--from"), bound(last, "--to")
    except ListingError as exc:
        _refuse(str(exc))
    if (low.post_id or 0) > (high.post_id or 2**31) or (low.day or dt.date.min) > (high.day or dt.date.max):
        _refuse(f"--to ({high}) is before --from ({low})")
    try:
        listing = list_posts(name, low, high, fetch_config(None, allow_private, None, ca_file, resolve)(), base)
    except ListingError as exc:
        _fail(str(exc))
    except FetchFailed as exc:
        _fail(f"{exc.outcome}: {exc.reason}")
    for post in listing.posts:
        click.echo(for_terminal(f"{name}/{post.post_id}  {post.posted_at or 'no date'}  {post.text}"))
    pages = f"read from {len(listing.pages)} preview page(s)"
    if listing.incomplete:
        click.echo(for_terminal(f"incomplete: {listing.incomplete}"), err=True)
    if not listing.posts:
        _fail(f"no posts of {name} from {low} to {high} ({pages})")
    ids = (listing.posts[0].post_id, listing.posts[-1].post_id)
    click.echo(for_terminal(f"{len(listing.posts)} post(s) of {name} from {low} to {high}: ids {ids[0]} to {ids[1]}, "
                            f"{pages}"), err=True)
    if case_file is not None:
        from ingest.claims.addsource import add_range

        sid = source_id or name.lower().replace("_", "-")
        try:
            added = add_range(Path(case_file), sid, name, ids[0], ids[1], base if base != "https://t.me" else None)
        except CaseFileErrors as exc:
            for e in exc.errors:
                click.echo(for_terminal(f"error: {e}"), err=True)
            _refuse(f"{case_file} was not changed.")
        span = ids[1] - ids[0] + 1
        click.echo(for_terminal(f"added channel range {sid} ({sid}-{ids[0]}\u2026{sid}-{ids[1]}: {span} ids, "
                                f"{len(listing.posts)} listed) to {case_file} at line {added.line}"))
    sys.exit(1 if listing.incomplete else 0)


def _fail(message: str) -> None:
    click.echo(for_terminal(f"error: {message}"), err=True)
    sys.exit(1)
