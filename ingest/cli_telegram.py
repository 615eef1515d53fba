"""The Telegram API mode's command line: `run --telegram-api CONFIG.json` and the `telegram-login` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

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
    config = telegram_api_config(config_file, archive_dir, [])
    from telethon import TelegramClient
    from telethon.sessions import SQLiteSession

    client = TelegramClient(SQLiteSession(str(config.session)), config.api_id, config.api_hash,
                            receive_updates=False, flood_sleep_threshold=0)
    try:
        client.start()  # interactive: phone, code, password
        me = client.get_me(input_peer=True)
    except Exception as exc:  # noqa: BLE001 - any failure of the login is said in one line
        _refuse(f"not logged in: {type(exc).__name__}: {exc}")
    finally:
        client.disconnect()
    if me is None:
        _refuse("not logged in")
    config.session.chmod(0o600)
    click.echo(for_terminal(f"logged in; session written to {config.session} (mode 600). It is a full login to the "
                            "account: keep it outside any archive or case folder, and revoke it when done."))
