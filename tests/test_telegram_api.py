"""The Telegram API mode (Telethon), against a real MTProto server made by the tests.

`tests/mtproto_server.py` serves MTProto 2.0 on 127.0.0.1; the real Telethon client in
`run --telegram-api` talks to it with a session file this test writes (DC 2 at the server's
port, an auth key both sides share). The web preview of each post is a plain HTTP server made
here, the host t.me mapped to it with `--resolve`: it shows no post, as for a channel whose
preview is disabled, so the run asks the API.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3
from conftest import ROOT, Result, Site, khronika, query
from mtproto_server import Error, MTProtoServer
from telegram_pages import error_page
from telethon import functions, types
from telethon.crypto import AuthKey
from telethon.sessions import SQLiteSession
from telethon.tl.alltlobjects import LAYER
from telethon.tl.types import contacts, messages, storage, updates, upload
from warcio.archiveiterator import ArchiveIterator

import telethon

UTC = dt.timezone.utc
WHEN = dt.datetime(2025, 5, 16, 9, 30, tzinfo=UTC)
ME = types.User(id=1000, is_self=True, access_hash=5, first_name="Archivist", phone="79990001122")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x01" * 3000 + b"\xff\xd9"
TEXT = "Суд продлил арест 🔒 троим фигурантам. Подробнее на сайте."


def channel(cid: int, username: str, title: str) -> types.Channel:
    return types.Channel(id=cid, title=title, photo=types.ChatPhotoEmpty(), date=WHEN, broadcast=True,
                         access_hash=cid * 7, username=username)


CHANNELS = {"hidden_chan": channel(777, "hidden_chan", "Support Group"),
            "closed_chan": channel(778, "closed_chan", "Closed"), "busy_chan": channel(779, "busy_chan", "Busy")}
PHOTO = types.Photo(id=555, access_hash=1, file_reference=b"ref", date=WHEN, dc_id=2,
                    sizes=[types.PhotoSize(type="m", w=320, h=240, size=1000),
                           types.PhotoSize(type="y", w=1280, h=960, size=len(JPEG))])


def message(mid: int, text: str, **kw: Any) -> types.Message:
    return types.Message(id=mid, peer_id=types.PeerChannel(777), date=WHEN, message=text, post=True,
                         views=kw.pop("views", 987), forwards=3, **kw)


POSTS = {
    5012: message(5012, TEXT, post_author="Анна К.", edit_date=dt.datetime(2025, 5, 16, 10, 0, tzinfo=UTC),
                  entities=[types.MessageEntityTextUrl(offset=39, length=18, url="https://ovd.example/news/1")],
                  reply_to=types.MessageReplyHeader(reply_to_msg_id=5000)),
    6001: message(6001, "Фотографии из зала суда.", media=types.MessageMediaPhoto(photo=PHOTO)),
}


def answer_of(posts: dict[int, Any]) -> Any:
    def answer(q: Any) -> Any:
        if isinstance(q, functions.users.GetUsersRequest):
            return [ME]
        if isinstance(q, functions.updates.GetStateRequest):
            return updates.State(pts=1, qts=0, date=WHEN, seq=1, unread_count=0)
        if isinstance(q, functions.updates.GetDifferenceRequest):
            return updates.DifferenceEmpty(date=WHEN, seq=1)
        if isinstance(q, functions.contacts.ResolveUsernameRequest):
            if q.username not in CHANNELS:
                return Error(400, "USERNAME_NOT_OCCUPIED")
            c = CHANNELS[q.username]
            return contacts.ResolvedPeer(peer=types.PeerChannel(c.id), chats=[c], users=[])
        if isinstance(q, functions.channels.GetMessagesRequest):
            if q.channel.channel_id == 778:
                return Error(400, "CHANNEL_PRIVATE")
            if q.channel.channel_id == 779:
                return Error(420, "FLOOD_WAIT_30")
            wanted = q.id[0].id
            found = posts.get(wanted) or types.MessageEmpty(id=wanted, peer_id=types.PeerChannel(777))
            return messages.ChannelMessages(pts=1, count=1, messages=[found], topics=[], chats=[CHANNELS["hidden_chan"]],
                                            users=[])
        if isinstance(q, functions.upload.GetFileRequest):
            assert q.location.id == 555 and q.location.thumb_size == "y", q.location
            return upload.File(type=storage.FileJpeg(), mtime=0, bytes=JPEG[q.offset:q.offset + q.limit])
        return Error(400, f"TEST_UNEXPECTED_{type(q).__name__}")
    return answer


@pytest.fixture
def api() -> Iterator[MTProtoServer]:
    server = MTProtoServer(answer_of(dict(POSTS)))
    yield server
    server.close()


@pytest.fixture
def preview() -> Iterator[Site]:
    """The web preview: every embed page says nothing is there, as a channel with its preview disabled."""
    site = Site()
    for key in ("hidden_chan/5012", "hidden_chan/6001", "hidden_chan/404", "closed_chan/1", "busy_chan/1",
                "busy_chan/2", "nobody_here/1"):
        site.set(f"/{key}?embed=1&mode=tme", error_page("Post not found"), Content_Type="text/html; charset=utf-8")
    yield site
    site.close()


def session_file(folder: Path, server: MTProtoServer) -> Path:
    """A Telethon session file pointing at the test server, holding the auth key it knows."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tg.session"
    s = SQLiteSession(str(path))
    s.set_dc(server.dc_id, "127.0.0.1", server.port)
    s.auth_key = AuthKey(server.auth_key)
    s.save()
    s.close()
    config = folder / "telegram.json"
    config.write_text(json.dumps({"api_id": 12345, "api_hash": "0123456789abcdef", "session": "tg.session"}))
    return config


def write_case(folder: Path, o: str, posts: list[str], claims: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = "".join(f"  - id: p{i}\n    url: {o}/{p}\n" for i, p in enumerate(posts, 1))
    case = folder / "tg.yml"
    case.write_text(f"case:\n  id: tg\n  title: Telegram\nsources:\n{sources}" + (f"claims:\n{claims}" if claims else ""),
                    encoding="utf-8")
    return case


def run(preview: Site, case: Path, archive: Path, config: Path, *args: str) -> Result:
    return khronika("run", str(case), "--archive", str(archive), "--resolve", f"t.me:{preview.port}:127.0.0.1",
                    "--telegram-api", str(config), *args)


def gone(o: str, key: str) -> str:
    return f"gone: Telegram's preview shows no post {key}: \u201cPost not found\u201d at {o}/{key}?embed=1&mode=tme"


def answer_bytes(mid: int) -> bytes:
    return bytes(messages.ChannelMessages(pts=1, count=1, messages=[POSTS[mid]], topics=[], chats=[CHANNELS["hidden_chan"]],
                                          users=[]))


def test_text_only_post_through_the_api(tmp_path: Path, api: MTProtoServer, preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    config = session_file(tmp_path / "secret", api)
    claim = ("  - id: extended\n    text: The arrest was extended.\n    citations:\n      - source: p1\n"
             "        quote: \"троим фигурантам\"\n        stance: supports\n")
    case = write_case(tmp_path / "case", o, ["hidden_chan/5012"], claim)
    archive = tmp_path / "archive"
    r = run(preview, case, archive, config)
    assert r.code == 0, r.err
    data = answer_bytes(5012)
    b3 = blake3(data).hexdigest()
    assert (f"new       tg/p1: captured through the Telegram API (telegram_api) {o}/hidden_chan/5012 ({b3[:12]}, "
            f"{len(data)} bytes); the web preview: {gone(o, 'hidden_chan/5012')}") in r.err.splitlines(), r.err
    assert api.requests == ["GetConfigRequest", "GetUsersRequest", "GetStateRequest", "GetDifferenceRequest",
                            "ResolveUsernameRequest", "GetMessagesRequest"]
    db = archive / "archive.db"
    assert query(db, "SELECT source_id, method, url, outcome, error FROM attempts ORDER BY id") == [
        ("tg/p1", "http", f"{o}/hidden_chan/5012", "gone", gone(o, "hidden_chan/5012")[6:]),
        ("tg/p1", "telegram_api", f"{o}/hidden_chan/5012", "captured", None)]
    version, layer = telethon.__version__, LAYER
    assert query(db, "SELECT method, url, final_url, status, media_type, blake3, tool, completeness FROM captures") == [
        ("telegram_api", f"{o}/hidden_chan/5012", None, None, "application/x-telegram-tl", b3,
         f"Telethon/{version} (API layer {layer}, a logged-in user session)", "checked")]
    assert query(db, "SELECT extractor, text FROM extractions") == [("telegram_api", TEXT)]
    assert query(db, "SELECT source_id, channel, channel_title, post_id, posted_at, author, edited, edit_date, views, "
                     "views_count, views_exact, reply_to_url, links, media, method FROM telegram_posts") == [
        ("tg/p1", "hidden_chan", "Support Group", 5012, "2025-05-16T09:30:00+00:00", "Анна К.", 1,
         "2025-05-16T10:00:00+00:00", "987", 987, 1, "https://t.me/hidden_chan/5000",
         # 39 UTF-16 units are 38 code points: the lock emoji counts two in UTF-16.
         '[{"end": 56, "href": "https://ovd.example/news/1", "start": 38, "text": "Подробнее на сайте"}]', "[]",
         "telegram_api")]
    assert query(db, "SELECT count(*) FROM post_files") == [(0,)]  # nothing fetched over HTTP beside an API post
    assert query(db, "SELECT id, match FROM citations") == [("tg/extended#1", "exact")]
    assert query(db, "SELECT status FROM claims") == [("sourced",)]
    records = []
    for warc in sorted((archive / "warc").glob("*.warc.gz")):
        with warc.open("rb") as f:
            for rec in ArchiveIterator(f):
                records.append((rec.rec_type, rec.rec_headers.get_header("WARC-Target-URI"),
                                rec.rec_headers.get_header("Content-Type"), rec.content_stream().read()))
    assert [r[:3] for r in records if (r[1] or "").startswith(o)] == [
        ("response", f"{o}/hidden_chan/5012?embed=1&mode=tme", "application/http; msgtype=response"),
        ("request", f"{o}/hidden_chan/5012?embed=1&mode=tme", "application/http; msgtype=request"),
        ("resource", f"{o}/hidden_chan/5012",
         f"application/x-telegram-tl; type=messages.ChannelMessages; layer={layer}"),
        ("metadata", f"{o}/hidden_chan/5012", "application/json")]
    resource, meta = records[-2][3], json.loads(records[-1][3])
    assert resource == data
    fetched = query(db, "SELECT captured_at FROM captures")[0][0]
    assert meta == {"method": "telegram_api", "post": f"{o}/hidden_chan/5012", "request": "channels.getMessages",
                    "api_layer": layer, "client": f"Telethon {version}",
                    "session": "a logged-in Telegram user session (account not recorded)",
                    "payload": "Telethon's TL serialization of the API's answer (bytes(result)), not the bytes on the wire",
                    "fetched_at": fetched, "photos": []}
    assert [line for line in r.err.splitlines() if not line.startswith("log head")] == [
        f"new       tg/p1: captured through the Telegram API (telegram_api) {o}/hidden_chan/5012 ({b3[:12]}, "
        f"{len(data)} bytes); the web preview: {gone(o, 'hidden_chan/5012')}",
        "1 new capture(s), 0 unchanged, 0 kept without fetching, 0 failed, 0 wanted. Claims: 1 sourced."]
    everything = b"".join(r[3] for r in records) + (archive / "archive.db").read_bytes()
    assert b"79990001122" not in everything and "Archivist".encode() not in everything


def test_post_with_a_photo_archives_the_photo(tmp_path: Path, api: MTProtoServer, preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    case = write_case(tmp_path / "case", o, ["hidden_chan/6001"])
    archive = tmp_path / "archive"
    r = run(preview, case, archive, session_file(tmp_path / "secret", api))
    assert r.code == 0, r.err
    assert api.requests[-3:] == ["ResolveUsernameRequest", "GetMessagesRequest", "GetFileRequest"]
    db = archive / "archive.db"
    photo = blake3(JPEG).hexdigest()
    assert query(db, "SELECT source_id, n, role, url, outcome, error, blake3, media_type, size FROM post_files") == [
        ("tg/p1", 1, "photo", f"{o}/hidden_chan/6001#photo-555", "captured", None, photo, "image/jpeg", len(JPEG))]
    assert (archive / query(db, "SELECT path FROM files WHERE blake3 = ?", [photo])[0][0]).read_bytes() == JPEG
    assert query(db, "SELECT text FROM extractions") == [("Фотографии из зала суда.",)]
    assert query(db, "SELECT media, method FROM telegram_posts") == [('[{"kind": "photo", "photo_id": 555}]', "telegram_api")]


def test_api_errors_are_attempts_with_the_reason_and_the_batch_goes_on(tmp_path: Path, api: MTProtoServer,
                                                                       preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    case = write_case(tmp_path / "case", o, ["hidden_chan/404", "closed_chan/1", "nobody_here/1", "busy_chan/1",
                                             "busy_chan/2", "hidden_chan/5012"])
    archive = tmp_path / "archive"
    r = run(preview, case, archive, session_file(tmp_path / "secret", api))
    assert r.code == 1, r.err
    flood = ("Telegram's API asks to wait 30 s (FLOOD_WAIT_30) before busy_chan/1; not asked again in this run")
    assert query(archive / "archive.db", "SELECT source_id, outcome, error FROM attempts WHERE method = 'telegram_api' "
                                         "ORDER BY id") == [
        ("tg/p1", "gone", "Telegram's API has no message hidden_chan/404 (messageEmpty): deleted, or never posted"),
        ("tg/p2", "gone", "Telegram's API refused closed_chan/1 (CHANNEL_PRIVATE): the channel is private, or this "
                          "account may not read it"),
        ("tg/p3", "gone", "Telegram's API has no channel for nobody_here/1 (USERNAME_NOT_OCCUPIED)"),
        ("tg/p4", "failed", flood),
        ("tg/p5", "failed", f"not asked through Telegram's API: {flood}"),
        ("tg/p6", "failed", f"not asked through Telegram's API: {flood}")]
    assert (f"failed: tg/p2: gone: Telegram's API refused closed_chan/1 (CHANNEL_PRIVATE): the channel is private, or "
            f"this account may not read it (through the Telegram API; the web preview: {gone(o, 'closed_chan/1')})"
            in r.err.splitlines()), r.err
    assert query(archive / "archive.db", "SELECT count(*) FROM captures") == [(0,)]
    assert api.requests.count("GetMessagesRequest") == 3  # 404, closed_chan, busy_chan/1; none after the flood wait


def test_a_session_inside_the_archive_or_the_case_folder_is_refused(tmp_path: Path, api: MTProtoServer,
                                                                    preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    archive = tmp_path / "archive"
    case = write_case(tmp_path / "case", o, ["hidden_chan/5012"])
    for folder, where in ((archive / "keys", f"the archive folder ({archive})"),
                          (tmp_path / "case", f"the folder of case file {case} ({tmp_path / 'case'})")):
        config = session_file(folder, api)
        r = run(preview, case, archive, config)
        assert r.code == 2, r.err
        assert r.err.splitlines() == [
            f"error: {config}: session: {folder / 'tg.session'} is inside {where}: a session file is a full login to "
            "the account and would be published, bagged or copied with it; keep it outside"]
    assert api.requests == [] and not (archive / "archive.db").exists() or \
        query(archive / "archive.db", "SELECT count(*) FROM attempts") == [(0,)]


@pytest.mark.parametrize(("config", "message"), [
    ({"api_id": 1, "api_hash": "x"}, "session: the path of a Telethon session file is required"),
    ({"api_id": "1", "api_hash": "x", "session": "a.session"}, "api_id: a positive whole number is required (from my.telegram.org)"),
    ({"api_id": 1, "api_hash": "x", "session": "a.txt"}, "session: a.txt does not end in .session, as Telethon's session files do"),
    ({"api_id": 1, "api_hash": "x", "session": "a.session", "phone": "+7"}, 'unknown key "phone" (allowed: api_id, api_hash, session)'),
])
def test_a_bad_configuration_is_refused_before_any_fetch(tmp_path: Path, config: dict, message: str) -> None:
    path = tmp_path / "telegram.json"
    path.write_text(json.dumps(config))
    case = write_case(tmp_path / "case", "https://t.me", ["hidden_chan/5012"])
    r = khronika("run", str(case), "--archive", str(tmp_path / "archive"), "--telegram-api", str(path))
    assert (r.code, r.err.splitlines()) == (2, [f"error: {path}: {message}"])


def test_a_missing_session_file_fails_each_post_with_what_to_do(tmp_path: Path, preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    config = tmp_path / "secret" / "telegram.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"api_id": 1, "api_hash": "x", "session": "none.session"}))
    case = write_case(tmp_path / "case", o, ["hidden_chan/5012", "hidden_chan/6001"])
    r = run(preview, case, tmp_path / "archive", config)
    assert r.code == 1
    why = f"no session file at {config.parent / 'none.session'}: make one with python -m ingest telegram-login {config}"
    assert query(tmp_path / "archive" / "archive.db", "SELECT error FROM attempts WHERE method = 'telegram_api'") == [
        (why,), (f"not asked through Telegram's API: {why}",)]


def test_without_telethon_the_mode_says_what_to_install(tmp_path: Path) -> None:
    config = tmp_path / "telegram.json"
    config.write_text(json.dumps({"api_id": 1, "api_hash": "x", "session": "a.session"}))
    case = write_case(tmp_path / "case", "https://t.me", ["hidden_chan/5012"])
    # A child process in which `import telethon` fails, as where the telegram-api extra is not installed.
    code = ("import sys; sys.modules['telethon'] = None; sys.argv[0] = 'python -m ingest'; "
            "from ingest.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code, "run", str(case), "--archive", str(tmp_path / "archive"),
                           "--telegram-api", str(config)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr.splitlines()) == (2, [
        "error: the Telegram API mode needs Telethon, which is not installed (import of telethon halted; None in "
        "sys.modules): pip install 'khronika[telegram-api]'"])
    assert not (tmp_path / "archive").exists()


def test_an_api_post_followed_across_runs_and_shown_on_its_card(tmp_path: Path, preview: Site) -> None:
    import asyncio
    import re
    from html import unescape

    from test_web import make_datasette

    posts = dict(POSTS)
    server = MTProtoServer(answer_of(posts))
    try:
        o = f"http://t.me:{preview.port}"
        config = session_file(tmp_path / "secret", server)
        claim = ("  - id: extended\n    text: The arrest was extended.\n    citations:\n      - source: p1\n"
                 "        quote: \"продлил арест\"\n        stance: supports\n")
        case = write_case(tmp_path / "case", o, ["hidden_chan/5012"], claim)
        archive = tmp_path / "archive"
        assert run(preview, case, archive, config).code == 0
        posts[5012] = message(5012, "Суд отменил арест троим фигурантам.", views=1500, post_author="Анна К.",
                              edit_date=dt.datetime(2025, 5, 17, 8, 0, tzinfo=UTC))
        r = run(preview, case, archive, config, "--refresh")
        assert r.code == 0, r.err
        # Without --telegram-api the post is not asked of its preview again: its "no post" would read as gone.
        attempts = query(archive / "archive.db", "SELECT count(*) FROM attempts")
        r3 = khronika("run", str(case), "--archive", str(archive), "--resolve", f"t.me:{preview.port}:127.0.0.1", "--refresh")
        assert r3.code == 0, r3.err
        fetched = query(archive / "archive.db", "SELECT captured_at FROM captures WHERE id = 2")[0][0]
        assert (f"kept      tg/p1: captured through the Telegram API (telegram_api) {fetched}; not re-checked without "
                "--telegram-api (its web preview showed no post)") in r3.err.splitlines(), r3.err
        assert query(archive / "archive.db", "SELECT count(*) FROM attempts") == attempts
    finally:
        server.close()
    db = archive / "archive.db"
    assert query(db, "SELECT capture_id, views, views_count, edited, edit_date, previous_capture_id, text_changed, "
                     "text_diff, method FROM telegram_posts ORDER BY capture_id") == [
        (1, "987", 987, 1, "2025-05-16T10:00:00+00:00", None, None, None, "telegram_api"),
        (2, "1500", 1500, 1, "2025-05-17T08:00:00+00:00", 1, 1,
         f"--- capture 1\n+++ capture 2\n@@ -1 +1 @@\n-{TEXT}\n+Суд отменил арест троим фигурантам.", "telegram_api")]
    [(since, b3)] = query(db, "SELECT d.since, c.blake3 FROM citation_drift d JOIN captures c ON c.id = d.capture_id")
    assert (f"drift: tg/extended: none -> removed since {since}: citation 1 (tg/p1): the quoted sentence was removed from "
            f"the live page (first seen {since}): quote no longer in version 2 ({b3[:12]}) (not found, even approximately)"
            in r.err.splitlines()), r.err
    ds = make_datasette(archive)
    page = asyncio.run(ds.client.get("/-/source/tg/p1"))
    assert page.status_code == 200
    card = page.text[page.text.index('<div class="post-card"'):]
    card = card[:card.index("</table>")]
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", card)).split())
    assert words.startswith("Support Group @hidden_chan · post 5012 · 2025-05-16T09:30:00+00:00 · signed Анна К. · "
                            "edited 2025-05-17T08:00:00+00:00 Суд отменил арест троим фигурантам. ")
    assert "through the Telegram API (telegram_api: a logged-in user session; the web preview showed no post)" in words
    assert re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td></tr>", card) == ["987", "1500"]
    assert len(re.findall(r"\(API\)</td>", card)) == 2


def test_api_posts_are_rebuilt_from_the_log_verified_and_exported(tmp_path: Path, api: MTProtoServer, preview: Site) -> None:
    o = f"http://t.me:{preview.port}"
    case = write_case(tmp_path / "case", o, ["hidden_chan/5012", "hidden_chan/6001"])
    archive = tmp_path / "archive"
    config = session_file(tmp_path / "secret", api)
    assert run(preview, case, archive, config).code == 0
    db = archive / "archive.db"
    posts = "SELECT * FROM telegram_posts ORDER BY capture_id"
    files = "SELECT * FROM post_files ORDER BY id"
    before = (query(db, posts), query(db, files))
    r = khronika("verify", "--archive", str(archive), "--json")
    assert r.code == 0, r.out[-2000:]
    checks = json.loads(r.out)["checks"]
    version = query(db, "SELECT extractor_version FROM extractions LIMIT 1")[0][0]
    assert version == f"khronika-{__import__('ingest').__version__}+telethon-{telethon.__version__}"
    assert sorted(c["subject"] for c in checks if c["check"] == "reproducibility") == sorted(
        f"extraction {i} of {b[:16]} (telegram_api {version})" for i, b in query(db, "SELECT id, blake3 FROM extractions"))
    assert {c["state"] for c in checks if c["check"] == "reproducibility"} == {"ok"}
    db.unlink()
    assert run(preview, case, archive, config, "--offline").code == 0
    assert (query(db, posts), query(db, files)) == before
    bag = tmp_path / "bag"
    r = khronika("export", "tg", "--archive", str(archive), "--out", str(bag))
    assert r.code == 0, r.err
    inside = bag / "data" / "archive.db"
    assert query(inside, "SELECT method, count(*) FROM captures GROUP BY method") == [("telegram_api", 2)]
    assert query(inside, "SELECT refers_to, warc_type, target_uri FROM bag_warc_records WHERE warc_type != 'warcinfo' "
                         "AND target_uri NOT LIKE '%embed=1%' ORDER BY n") == [
        ("captures", "resource", f"{o}/hidden_chan/5012"), ("attempts", "metadata", f"{o}/hidden_chan/5012"),
        ("captures", "resource", f"{o}/hidden_chan/6001"), ("attempts", "metadata", f"{o}/hidden_chan/6001"),
        ("post_files", "resource", f"{o}/hidden_chan/6001#photo-555")]
    r = khronika("verify-bag", str(bag))
    assert "0 mismatch, 0 missing" in r.out, r.out[-3000:]


@pytest.mark.parametrize(("data", "error"), [
    (b"\x00\x01garbage", "not a TL object Telethon can read (TypeNotFoundError: Could not find a matching Constructor ID "
                         "for the TLObject that was supposed to be read with ID 61670100. See the FAQ for more details. "
                         "Remaining bytes: b'\\x00\\x01garbage')"),
    (bytes(types.PeerChannel(777)), "a TL PeerChannel, not a messages.ChannelMessages answer"),
    (bytes(messages.ChannelMessages(pts=1, count=0, messages=[], topics=[], chats=[], users=[])),
     "the answer holds 0 messages; the reader reads an answer of one post"),
])
def test_the_api_reader_refuses_what_is_not_one_post(data: bytes, error: str) -> None:
    from ingest.text.extract import extract

    ex = extract(data, "application/x-telegram-tl")
    assert (ex.extractor, ex.text, ex.error) == ("telegram_api", None, error)


def test_a_revoked_session_ends_the_mode_with_what_to_do(tmp_path: Path, preview: Site) -> None:
    posts = answer_of(dict(POSTS))
    server = MTProtoServer(lambda q: Error(401, "AUTH_KEY_UNREGISTERED") if isinstance(q, functions.users.GetUsersRequest)
                           else posts(q))
    try:
        o = f"http://t.me:{preview.port}"
        config = session_file(tmp_path / "secret", server)
        case = write_case(tmp_path / "case", o, ["hidden_chan/5012", "hidden_chan/6001"])
        r = run(preview, case, tmp_path / "archive", config)
    finally:
        server.close()
    assert r.code == 1
    why = (f"the session {config.parent / 'tg.session'} is not logged in: make one with python -m ingest telegram-login "
           f"{config}")
    assert query(tmp_path / "archive" / "archive.db", "SELECT source_id, outcome, error FROM attempts "
                                                      "WHERE method = 'telegram_api' ORDER BY id") == [
        ("tg/p1", "failed", why), ("tg/p2", "failed", f"not asked through Telegram's API: {why}")]
    assert "GetMessagesRequest" not in server.requests


def test_telegram_login_makes_a_session_and_refuses_one_inside_the_archive(tmp_path: Path) -> None:
    from telethon.tl.types import auth

    signed: list[Any] = []
    posts = answer_of(dict(POSTS))

    def answer(q: Any) -> Any:
        if isinstance(q, functions.auth.SendCodeRequest):
            assert q.phone_number == "79990001122", q
            return auth.SentCode(type=auth.SentCodeTypeApp(length=5), phone_code_hash="hash1")
        if isinstance(q, functions.auth.SignInRequest):
            signed.append((q.phone_number, q.phone_code_hash, q.phone_code))
            return auth.Authorization(user=ME)
        if not signed and isinstance(q, (functions.users.GetUsersRequest, functions.updates.GetStateRequest)):
            return Error(401, "AUTH_KEY_UNREGISTERED")
        return posts(q)

    server = MTProtoServer(answer)
    try:
        config = session_file(tmp_path / "secret", server)  # the key is the server's; no account is logged in yet
        proc = subprocess.run([sys.executable, "-m", "ingest", "telegram-login", str(config), "--archive",
                               str(tmp_path / "archive")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              input="+7 999 000-11-22\n12345\n")
        inside = session_file(tmp_path / "archive" / "keys", server)
        refused = khronika("telegram-login", str(inside), "--archive", str(tmp_path / "archive"))
    finally:
        server.close()
    session = tmp_path / "secret" / "tg.session"
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == (
        f"logged in; session written to {session} (mode 600). It is a full login to the account: keep it outside "
        "any archive or case folder, and revoke it when done.")
    assert signed == [("79990001122", "hash1", "12345")]
    assert oct(session.stat().st_mode & 0o777) == "0o600"
    assert (refused.code, refused.err.splitlines()) == (2, [
        f"error: {inside}: session: {inside.parent / 'tg.session'} is inside the archive folder ({tmp_path / 'archive'}): "
        "a session file is a full login to the account and would be published, bagged or copied with it; keep it outside"])
