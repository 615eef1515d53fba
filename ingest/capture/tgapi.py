"""The Telegram API mode (Telethon), off by default: a public channel's post read through a
logged-in user session, for channels whose web preview shows nothing.

Opt-in only (`run --telegram-api CONFIG.json`). The configuration names the application's
`api_id` and `api_hash` and the Telethon session file; a session file is a full login to the
account, so one inside the archive folder or a case folder (published, bagged, copied along) is
refused. Nothing here ever logs in: `telegram-login` makes the session, interactively, apart
from any run. One post is asked for by `contacts.resolveUsername` and `channels.getMessages`;
what is archived is the API's answer to the latter (`messages.ChannelMessages`: the message, the
channel and the users it names) as Telethon's TL serialization of it (`bytes(result)`), which
`text/tgapi` reads back. The post's photo is downloaded (`upload.getFile`) within a size limit.
Every API error is a FetchFailed with Telegram's own error name: `gone` when the post or the
channel is not there for this account, `failed` otherwise. A flood wait, a session that is not
logged in and an API that cannot be reached end the mode for the rest of the run: the sources
after it are not asked, each with the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.errors import FetchFailed, KhronikaError

if TYPE_CHECKING:
    from ingest.capture.telegram import PostRef

METHOD = "telegram_api"
INSTALL = "pip install 'khronika[telegram-api]'"
MAX_PHOTO = 32 * 2**20


class TelegramApiError(KhronikaError):
    """The Telegram API mode cannot be used: Telethon missing, or the configuration is wrong."""


def telethon_version() -> str:
    """Telethon's version; TelegramApiError (what to install) when it is not installed."""
    try:
        import telethon
    except ImportError as exc:
        raise TelegramApiError(f"the Telegram API mode needs Telethon, which is not installed ({exc}): {INSTALL}") from None
    return str(telethon.__version__)


def api_layer() -> int:
    from telethon.tl.alltlobjects import LAYER

    return int(LAYER)


@dataclass(frozen=True)
class ApiConfig:
    file: Path
    api_id: int
    api_hash: str
    session: Path


def load_config(path: Path, forbidden: list[tuple[str, Path]]) -> ApiConfig:
    """Read CONFIG.json ({"api_id", "api_hash", "session"}); `forbidden` names the folders
    ("the archive folder", path) a session file must not be in. Raises TelegramApiError."""
    telethon_version()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TelegramApiError(f"{path}: cannot read the Telegram API configuration: {exc}") from None
    if not isinstance(data, dict):
        raise TelegramApiError(f"{path}: the Telegram API configuration is a JSON object, not {type(data).__name__}")
    unknown = sorted(set(data) - {"api_id", "api_hash", "session"})
    if unknown:
        raise TelegramApiError(f'{path}: unknown key "{unknown[0]}" (allowed: api_id, api_hash, session)')
    api_id, api_hash, session = data.get("api_id"), data.get("api_hash"), data.get("session")
    if not isinstance(api_id, int) or isinstance(api_id, bool) or api_id <= 0:
        raise TelegramApiError(f"{path}: api_id: a positive whole number is required (from my.telegram.org)")
    if not isinstance(api_hash, str) or not api_hash:
        raise TelegramApiError(f"{path}: api_hash: a string is required (from my.telegram.org)")
    if not isinstance(session, str) or not session:
        raise TelegramApiError(f"{path}: session: the path of a Telethon session file is required")
    if not session.endswith(".session"):  # Telethon adds the suffix itself: the file named must be the one used
        raise TelegramApiError(f"{path}: session: {session} does not end in .session, as Telethon's session files do")
    where = (path.parent / Path(session).expanduser())
    resolved = where.resolve()
    for name, folder in forbidden:
        if resolved.is_relative_to(folder.resolve()):
            raise TelegramApiError(
                f"{path}: session: {where} is inside {name} ({folder}): a session file is a full login to the "
                "account and would be published, bagged or copied with it; keep it outside")
    return ApiConfig(path, api_id, api_hash, where)


@dataclass
class ApiPhoto:
    photo_id: int
    outcome: str  # captured | too_large | failed
    data: bytes | None = None
    error: str | None = None


@dataclass
class ApiPost:
    data: bytes  # bytes(messages.ChannelMessages) as Telethon serializes the answer
    fetched_at: str
    request: str
    telethon: str
    layer: int
    photos: list[ApiPhoto] = field(default_factory=list)


def _error_name(exc: Exception) -> str:
    """Telegram's own name of an API error (CHANNEL_PRIVATE, FLOOD_WAIT_30), which Telethon turns into a class."""
    from telethon.errors import rpcerrorlist

    for name, cls in rpcerrorlist.rpc_errors_dict.items():
        if type(exc) is cls:
            return name
    for pattern, cls in rpcerrorlist.rpc_errors_re:
        if type(exc) is cls:
            captured = next((v for k, v in vars(exc).items() if k != "request" and isinstance(v, int)), "")
            return pattern.replace("(\\d+)", str(captured)).replace("\\", "")
    return str(getattr(exc, "message", None) or type(exc).__name__)


def _explain(exc: Exception, what: str) -> tuple[str, str, bool]:
    """(outcome, reason, whether the mode is over for this run) for an error from the API."""
    from telethon import errors

    name = _error_name(exc)
    if isinstance(exc, errors.FloodWaitError):
        return "failed", f"Telegram's API asks to wait {exc.seconds} s ({name}) before {what}; not asked again in this run", True
    if isinstance(exc, errors.UnauthorizedError):
        return "failed", (f"Telegram's API refused the session ({name}): it is logged out, revoked or expired; "
                          "make a new one with telegram-login"), True
    if isinstance(exc, (errors.ChannelPrivateError, errors.ChannelInvalidError)):
        return "gone", f"Telegram's API refused {what} ({name}): the channel is private, or this account may not read it", False
    if isinstance(exc, (errors.UsernameNotOccupiedError, errors.UsernameInvalidError)):
        return "gone", f"Telegram's API has no channel for {what} ({name})", False
    if isinstance(exc, errors.RPCError):
        return "failed", f"Telegram's API refused {what} ({name}, error {exc.code})", False
    return "failed", f"Telegram's API could not be reached for {what} ({type(exc).__name__}: {exc})", True


class TelegramApi:
    """One connected Telethon client for a run, in an event loop of its own; `fetch` one post at a time."""

    def __init__(self, config: ApiConfig, max_photo: int = MAX_PHOTO, timeout: float = 30.0) -> None:
        self.config, self.max_photo, self.timeout = config, max_photo, timeout
        import asyncio  # here, not at the top: every run imports this module, few use the API

        self.over: str | None = None  # why the mode stopped for this run
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        # Telethon's own log lines would go to stderr unasked; what it says reaches the user as a reason.
        logging.getLogger("telethon").addHandler(logging.NullHandler())
        logging.getLogger("telethon").propagate = False

    def fetch(self, ref: PostRef) -> ApiPost:
        """The API's answer for post `ref`; FetchFailed with the reason otherwise."""
        if self.over is not None:
            raise FetchFailed("failed", f"not asked through Telegram's API: {self.over}")
        import asyncio

        try:
            return self._loop.run_until_complete(asyncio.wait_for(self._fetch(ref), self.timeout * 4))
        except FetchFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever Telethon raises is this post's reason, never a crash
            outcome, reason, over = _explain(exc, f"{ref.key}")
            if over:
                self.over = reason
            raise FetchFailed(outcome, reason) from None

    async def _connect(self) -> Any:
        from telethon import TelegramClient
        from telethon.sessions import SQLiteSession

        if not self.config.session.is_file():
            self.over = (f"no session file at {self.config.session}: make one with "
                         f"python -m ingest telegram-login {self.config.file}")
            raise FetchFailed("failed", self.over)
        # No automatic sleeping on flood waits, no retries, no updates pulled into this process.
        client = TelegramClient(SQLiteSession(str(self.config.session)), self.config.api_id, self.config.api_hash,
                                connection_retries=0, retry_delay=0, request_retries=0, timeout=self.timeout,
                                flood_sleep_threshold=0, receive_updates=False, auto_reconnect=False)
        await client.connect()
        self._client = client
        if await client.get_me(input_peer=True) is None:
            self.over = (f"the session {self.config.session} is not logged in: make one with "
                         f"python -m ingest telegram-login {self.config.file}")
            raise FetchFailed("failed", self.over)
        return client

    async def _fetch(self, ref: PostRef) -> ApiPost:
        from telethon import functions, types

        from ingest.store.log import utcnow

        client = self._client or await self._connect()
        resolved = await client(functions.contacts.ResolveUsernameRequest(username=ref.channel))
        peer = resolved.peer
        chat = next((c for c in resolved.chats if isinstance(peer, types.PeerChannel) and c.id == peer.channel_id), None)
        if isinstance(chat, types.ChannelForbidden):
            raise FetchFailed("gone", f"Telegram's API says channel {ref.channel} is forbidden to this account (channelForbidden)")
        if not isinstance(chat, types.Channel) or chat.access_hash is None:
            raise FetchFailed("failed", f"@{ref.channel} is not a channel (Telegram's API resolves it to {type(peer).__name__})")
        fetched_at = utcnow()
        result = await client(functions.channels.GetMessagesRequest(
            channel=types.InputChannel(chat.id, chat.access_hash), id=[types.InputMessageID(ref.post_id)]))
        message = next((m for m in getattr(result, "messages", []) if m.id == ref.post_id), None)
        if message is None or isinstance(message, types.MessageEmpty):
            raise FetchFailed("gone", f"Telegram's API has no message {ref.key} (messageEmpty): deleted, or never posted")
        post = ApiPost(bytes(result), fetched_at, "channels.getMessages", telethon_version(), api_layer())
        media = getattr(message, "media", None)
        if isinstance(media, types.MessageMediaPhoto) and isinstance(media.photo, types.Photo):
            post.photos.append(await self._photo(client, media.photo))
        return post

    async def _photo(self, client: Any, photo: Any) -> ApiPhoto:
        from telethon import errors, types

        sizes = [s for s in photo.sizes if isinstance(s, types.PhotoSize)]
        if not sizes:
            return ApiPhoto(photo.id, "failed", error="the photo has no downloadable size")
        size = max(sizes, key=lambda s: s.size)
        if size.size > self.max_photo:
            return ApiPhoto(photo.id, "too_large", error=f"{size.size} bytes, over the limit of {self.max_photo}")
        location = types.InputPhotoFileLocation(photo.id, photo.access_hash, photo.file_reference, size.type)
        try:
            data = await client.download_file(location, bytes, file_size=size.size, dc_id=photo.dc_id)
        except errors.RPCError as exc:
            return ApiPhoto(photo.id, "failed", error=f"Telegram's API refused the download ({exc.message})")
        if len(data) > self.max_photo:
            return ApiPhoto(photo.id, "too_large", error=f"{len(data)} bytes, over the limit of {self.max_photo}")
        return ApiPhoto(photo.id, "captured", data)

    def close(self) -> None:
        import asyncio

        if self._client is not None:
            try:
                self._loop.run_until_complete(asyncio.wait_for(self._client.disconnect(), self.timeout))
            except Exception:  # noqa: BLE001 - closing a connection that already failed
                pass
        # Telethon's own tasks (its update loop) end here, not at interpreter exit with a warning.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()
