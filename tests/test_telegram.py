"""Telegram posts end to end: preview pages built by the tests (tests/telegram_pages.py) served over
HTTPS by a test CA on 127.0.0.1, the host t.me mapped to it with `run --resolve`, and each case's
exact rows: posts, their files, captures, attempts, claims and drift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Result, Site, khronika, query
from telegram_pages import Post, channel_page, embed_page, error_page
from tls_ca import TestCA

from ingest.capture.telegram import PostRef, post_ref, private_link
from ingest.text.extract import extract

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
TEXT = ("Суд в Калининграде продлил арест троим фигурантам дела до 16 июля.<br/><br/>"
        'Подробнее: <a href="https://ovd.example/news/1" target="_blank">ovd.example/news/1</a>')
PLAIN = "Суд в Калининграде продлил арест троим фигурантам дела до 16 июля.\n\nПодробнее: ovd.example/news/1"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def tg(ca: TestCA) -> Iterator[Site]:
    s = Site(tls=ca.server_context(("t.me",)))
    yield s
    s.close()


def origin(site: Site) -> str:
    return f"https://t.me:{site.port}"


def serve(site: Site, post: Post, files: dict[str, bytes] | None = None) -> None:
    """The post's embed page, its channel page (the post among its neighbours) and its files."""
    o = origin(site)
    html = "text/html; charset=utf-8"
    site.set(f"/{post.channel}/{post.post_id}?embed=1&mode=tme", embed_page(post, o), Content_Type=html)
    before = Post(post.channel, post.post_id - 1, "An earlier post of the channel.", title=post.title)
    site.set(f"/s/{post.channel}/{post.post_id}", channel_page([before, post], o), Content_Type=html)
    for path, data in (files or {}).items():
        site.set(path, data, Content_Type="image/jpeg")


def run(site: Site, ca: TestCA, case: Path, archive: Path, *args: str) -> Result:
    return khronika("run", str(case), "--archive", str(archive), "--resolve", f"t.me:{site.port}:127.0.0.1",
                    "--ca-file", str(ca.ca_file), *args)


def write_case(folder: Path, sources: str, claims: str = "") -> Path:
    case = folder / "tg.yml"
    case.write_text(f"case:\n  id: tg\n  title: Telegram\nsources:\n{sources}" + (f"claims:\n{claims}" if claims else ""),
                    encoding="utf-8")
    return case


POST_COLUMNS = ("source_id, channel, channel_title, post_id, posted_at, author, edited, views, views_count, views_exact, "
                "forwarded_from, forwarded_url, reply_to_url, reply_to_author, reply_to_text, link_preview, media, "
                "previous_capture_id, text_changed, text_diff")


def posts_of(archive: Path) -> list[tuple]:
    return query(archive / "archive.db", f"SELECT {POST_COLUMNS} FROM telegram_posts ORDER BY capture_id")


def files_of(archive: Path) -> list[tuple]:
    return query(archive / "archive.db", "SELECT source_id, capture_id, n, role, url, outcome, error, media_type, size "
                                         "FROM post_files ORDER BY id")


def attempts_of(archive: Path) -> list[tuple]:
    return query(archive / "archive.db", "SELECT source_id, outcome, error, capture_id FROM attempts ORDER BY id")


def texts_of(archive: Path) -> list[tuple]:
    return query(archive / "archive.db", "SELECT blake3, extractor, text FROM extractions ORDER BY id")


# -- URLs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("https://t.me/ovdinfo/5012", PostRef("https://t.me", "ovdinfo", 5012)),
    ("https://t.me/s/ovdinfo/5012", PostRef("https://t.me", "ovdinfo", 5012)),
    ("https://T.ME:8443/ovdinfo/5012?single", PostRef("https://t.me:8443", "ovdinfo", 5012)),
    ("http://telegram.me/Mediazona_Live/77/", PostRef("http://telegram.me", "Mediazona_Live", 77)),
    ("https://t.me/ovdinfo", None),
    ("https://t.me/c/1234567/89", None),
    ("https://t.me/joinchat/12345", None),
    ("https://t.me/ovdinfo/12a", None),
    ("https://t.me/ovdinfo/0", None),
    ("https://example.org/ovdinfo/5012", None),
    ("https://user:pw@t.me/ovdinfo/5012", None),
    ("https://t.me:99999/ovdinfo/5012", None),
    ("ftp://t.me/ovdinfo/5012", None),
])
def test_post_urls(url: str, expected: PostRef | None) -> None:
    assert post_ref(url) == expected


def test_preview_pages_of_a_post() -> None:
    ref = PostRef("https://t.me:8443", "ovdinfo", 5012)
    assert (ref.url, ref.embed_url, ref.channel_url) == (
        "https://t.me:8443/ovdinfo/5012", "https://t.me:8443/ovdinfo/5012?embed=1&mode=tme",
        "https://t.me:8443/s/ovdinfo/5012")
    assert private_link("https://t.me/c/1234567/89") == (
        "https://t.me/c/1234567/89 names a post of a private channel or group (t.me/c/...): Telegram has no public "
        "preview of it; the Telegram API mode (run --telegram-api) reads public channels by their username only")
    assert private_link("https://t.me/ovdinfo/5012") is None


# -- the reader -------------------------------------------------------------------------------------


def test_reader_takes_every_field_of_the_post_and_only_its_text() -> None:
    post = Post("ovdinfo_test", 5012, TEXT, author="Анна К.", edited=True, views="987",
                forwarded_from=("Медиазона", "https://t.me/mzona/77"),
                reply_to=("https://t.me/ovdinfo_test/5000", "Support Group", "Вчера суд начал рассматривать"),
                video_poster="https://cdn.example/poster.jpg",
                link_preview=("https://ovd.example/news/1", "ОВД-Инфо", "Арест продлён", "Суд продлил арест"))
    ex = extract(embed_page(post, "https://t.me"), "text/html", "utf-8", reader="telegram")
    assert (ex.error, ex.extractor, ex.text, ex.title, ex.author, ex.date, ex.sitename) == (
        None, "telegram", PLAIN, "Support Group", "Анна К.", "2025-05-16T09:30:00+00:00", "Telegram")
    assert ex.blocks == {"method": "blank-lines/1", "blocks": [[0, 66, "paragraph 1"], [68, 97, "paragraph 2"]]}
    assert ex.metadata == {"telegram": {
        "channel": "ovdinfo_test", "post_id": 5012, "channel_title": "Support Group",
        "datetime": "2025-05-16T09:30:00+00:00", "author": "Анна К.", "has_text": True,
        "links": [{"text": "ovd.example/news/1", "href": "https://ovd.example/news/1", "start": 79, "end": 97}],
        "forwarded_from": {"name": "Медиазона", "url": "https://t.me/mzona/77"},
        "reply_to": {"url": "https://t.me/ovdinfo_test/5000", "author": "Support Group",
                     "text": "Вчера суд начал рассматривать"},
        "views": "987", "views_count": 987, "views_exact": True, "edited": True,
        "link_preview": {"url": "https://ovd.example/news/1", "site": "ОВД-Инфо", "title": "Арест продлён",
                         "description": "Суд продлил арест"},
        "media": [{"kind": "video_poster", "url": "https://cdn.example/poster.jpg"}],
    }}


def test_reader_keeps_words_and_line_breaks_and_drops_comments_and_scripts() -> None:
    html = ('  Первая строка<br>вторая <b>жирная</b> <i class="emoji"><b>❤</b></i><!-- not shown -->'
            '<script>var x = "код";</script><blockquote>цитата</blockquote>после <a href="https://e.example/">ссылка</a>  ')
    ex = extract(embed_page(Post("a_chan", 9, html), "https://t.me"), "text/html", "utf-8", reader="telegram")
    assert ex.text == "Первая строка\nвторая жирная ❤\nцитата\nпосле ссылка"
    assert ex.metadata["telegram"]["links"] == [{"text": "ссылка", "href": "https://e.example/", "start": 43, "end": 49}]
    assert ex.text[43:49] == "ссылка"


@pytest.mark.parametrize(("page", "error"), [
    (error_page("Post not found"), "the preview shows no post: \u201cPost not found\u201d"),
    (b"<html><body><p>Telegram</p></body></html>", "the preview holds no tgme_widget_message block with a data-post"),
    (channel_page([Post("a_chan", 1, "one"), Post("a_chan", 2, "two")], "https://t.me"),
     "the page holds 2 posts (a_chan/1, a_chan/2); the post reader reads a single-post embed page"),
    (b"", "not a Telegram preview page (ParserError: Document is empty)"),
    (embed_page(Post("a_chan", 9, "<b>" * 300 + "глубоко" + "</b>" * 300), "https://t.me"),
     "the page is beyond the HTML parser's limits (Excessive depth in document: 256, use XML_PARSE_HUGE option): "
     "its text cannot be read in full"),
])
def test_reader_refuses_pages_without_one_post(page: bytes, error: str) -> None:
    ex = extract(page, "text/html", "utf-8", reader="telegram")
    assert (ex.extractor, ex.text, ex.error) == ("telegram", None, error)


@pytest.mark.parametrize(("shown", "count", "exact"), [
    ("987", 987, True), ("1.2K", 1200, False), ("15K", 15000, False), ("2,5M", 2500000, False), ("", None, False),
    ("many", None, False),
])
def test_views_as_shown_and_as_a_number(shown: str, count: int | None, exact: bool) -> None:
    from ingest.text.telegram import views_count

    assert views_count(shown) == (count, exact)


# -- end to end -------------------------------------------------------------------------------------

CLAIM = """  - id: extended
    text: The arrest of three defendants was extended.
    citations:
      - source: {source}
        quote: "{quote}"
        stance: supports
"""


def test_text_only_post_is_captured_and_its_quote_anchors_in_the_post_text(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("ovdinfo_test", 5012, TEXT, views="987"))
    chrome = """  - id: chrome
    text: The channel is called Support Group.
    citations:
      - source: post
        quote: "Support Group"
        stance: supports
"""
    case = write_case(tmp_path, f"  - id: post\n    url: {o}/ovdinfo_test/5012\n",
                      CLAIM.format(source="post", quote="продлил арест троим фигурантам") + chrome)
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    db = archive / "archive.db"
    [(blake3,)] = query(db, "SELECT blake3 FROM captures")
    assert query(db, "SELECT source_id, version, method, url, final_url, status, media_type FROM captures") == [
        ("tg/post", 1, "http", f"{o}/ovdinfo_test/5012", f"{o}/ovdinfo_test/5012?embed=1&mode=tme", 200, "text/html")]
    assert texts_of(archive) == [(blake3, "telegram", PLAIN)]
    assert posts_of(archive) == [
        ("tg/post", "ovdinfo_test", "Support Group", 5012, "2025-05-16T09:30:00+00:00", None, 0, "987", 987, 1,
         None, None, None, None, None, None, "[]", None, None, None)]
    [(size,)] = query(db, "SELECT size FROM post_files")
    assert files_of(archive) == [
        ("tg/post", 1, 1, "channel_page", f"{o}/s/ovdinfo_test/5012", "captured", None, "text/html", size)]
    assert attempts_of(archive) == [("tg/post", "captured", None, 1)]
    # The quote is found in the post's text; the channel's name is the preview's chrome, not the post.
    assert query(db, "SELECT id, match, start, \"end\", reason FROM citations ORDER BY id") == [
        ("tg/chrome#1", "not_found", None, None, "not found, even approximately"),
        ("tg/extended#1", "exact", 19, 49, "found exactly at 19")]
    assert query(db, "SELECT id, status FROM claims ORDER BY id") == [("tg/chrome", "unsourced"), ("tg/extended", "sourced")]
    # Both preview pages are in the run's WARC as ordinary HTTP exchanges.
    from ingest.store.warcs import records
    [warc] = (archive / "warc").glob("*.warc.gz")
    uris = [(p.warc_type, p.target_uri) for p in records(warc) if p.warc_type == "response"]
    assert uris == [("response", f"{o}/ovdinfo_test/5012?embed=1&mode=tme"), ("response", f"{o}/s/ovdinfo_test/5012")]


def test_album_post_archives_each_photo_as_a_file_linked_to_the_post(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    photos = [f"{o}/file/album-{i}.jpg" for i in (1, 2, 3)]
    serve(tg, Post("ovdinfo_test", 6001, "Фотографии из зала суда.", photos=photos),
          {"/file/album-1.jpg": JPEG + b"1", "/file/album-2.jpg": JPEG + b"22"})  # the third is not served: 404
    case = write_case(tmp_path, f"  - id: album\n    url: {o}/ovdinfo_test/6001\n")
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    assert f"note: tg/album: photo {photos[2]} not archived: gone: HTTP 404 Not Found at {photos[2]}" in r.err
    [row] = posts_of(archive)
    assert (row[15], json.loads(row[16])) == (None, [{"kind": "photo", "url": u} for u in photos])
    [(page_size,)] = query(archive / "archive.db", "SELECT size FROM post_files WHERE role = 'channel_page'")
    assert files_of(archive) == [
        ("tg/album", 1, 1, "channel_page", f"{o}/s/ovdinfo_test/6001", "captured", None, "text/html", page_size),
        ("tg/album", 1, 2, "photo", photos[0], "captured", None, "image/jpeg", len(JPEG) + 1),
        ("tg/album", 1, 3, "photo", photos[1], "captured", None, "image/jpeg", len(JPEG) + 2),
        ("tg/album", 1, 4, "photo", photos[2], "gone", f"HTTP 404 Not Found at {photos[2]}", None, None),
    ]
    # Each photo is a file of its own, byte for byte, in the content store and in files.
    from ingest.store.files import blake3_of
    stored = query(archive / "archive.db", "SELECT f.blake3, f.media_type, f.size FROM post_files p "
                                           "JOIN files f ON f.blake3 = p.blake3 WHERE p.role = 'photo' ORDER BY p.n")
    assert stored == [(blake3_of(JPEG + b"1"), "image/jpeg", len(JPEG) + 1), (blake3_of(JPEG + b"22"), "image/jpeg", len(JPEG) + 2)]
    # A second run fetches nothing again (the post's files were fetched once, for its capture).
    hits = dict(tg.hits)
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    assert tg.hits == hits


def test_forwarded_reply_with_video_and_link_preview(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("ovdinfo_test", 7002, "Заявление защиты.", author="Пресс-служба", views="15K",
                   forwarded_from=("Медиазона", "https://t.me/mzona/77"),
                   reply_to=(f"{o}/ovdinfo_test/7000", "Support Group", "Начался суд"),
                   video_poster=f"{o}/file/poster.jpg",
                   link_preview=("https://ovd.example/n/2", "ОВД-Инфо", "Заявление", "Полный текст")),
          {"/file/poster.jpg": JPEG + b"poster"})
    case = write_case(tmp_path, f"  - id: fwd\n    url: {o}/ovdinfo_test/7002\n")
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    preview = {"description": "Полный текст", "site": "ОВД-Инфо", "title": "Заявление", "url": "https://ovd.example/n/2"}
    rows = posts_of(archive)
    assert [row[:15] for row in rows] == [
        ("tg/fwd", "ovdinfo_test", "Support Group", 7002, "2025-05-16T09:30:00+00:00", "Пресс-служба", 0, "15K", 15000, 0,
         "Медиазона", "https://t.me/mzona/77", f"{o}/ovdinfo_test/7000", "Support Group", "Начался суд")]
    assert (json.loads(rows[0][15]), json.loads(rows[0][16])) == (preview, [{"kind": "video_poster", "url": f"{o}/file/poster.jpg"}])
    assert [row[3:6] for row in files_of(archive)] == [
        ("channel_page", f"{o}/s/ovdinfo_test/7002", "captured"), ("video_poster", f"{o}/file/poster.jpg", "captured")]
    assert texts_of(archive)[0][1:] == ("telegram", "Заявление защиты.")


def test_edited_post_across_two_runs(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("ovdinfo_test", 5012, TEXT, views="1.2K"))
    case = write_case(tmp_path, f"  - id: post\n    url: {o}/ovdinfo_test/5012\n",
                      CLAIM.format(source="post", quote="продлил арест троим фигурантам дела до 16 июля"))
    archive = tmp_path / "archive"
    assert run(tg, ca, case, archive).code == 0
    edited = TEXT.replace("до 16 июля", "до 16 августа")
    serve(tg, Post("ovdinfo_test", 5012, edited, views="2.5K", edited=True))
    r = run(tg, ca, case, archive, "--refresh")
    assert r.code == 0, r.err
    assert "drift: tg/extended: none -> changed since " in r.err
    diff = ("@@ -1,3 +1,3 @@\n-Суд в Калининграде продлил арест троим фигурантам дела до 16 июля.\n"
            "+Суд в Калининграде продлил арест троим фигурантам дела до 16 августа.\n \n Подробнее: ovd.example/news/1")
    assert [row[:10] + row[17:] for row in posts_of(archive)] == [
        ("tg/post", "ovdinfo_test", "Support Group", 5012, "2025-05-16T09:30:00+00:00", None, 0, "1.2K", 1200, 0,
         None, None, None),
        ("tg/post", "ovdinfo_test", "Support Group", 5012, "2025-05-16T09:30:00+00:00", None, 1, "2.5K", 2500, 0,
         1, 1, "--- capture 1\n+++ capture 2\n" + diff),
    ]
    db = archive / "archive.db"
    assert query(db, "SELECT source_id, version, previous_capture_id FROM captures ORDER BY id") == [
        ("tg/post", 1, None), ("tg/post", 2, 1)]
    assert query(db, "SELECT citation_id, finding, capture_id FROM drift_checks") == [("tg/extended#1", "quote_changed", 2)]
    assert query(db, "SELECT status, drift FROM claims") == [("sourced", "changed")]  # the archived copy still holds it
    # A third run with the same page: the post is unchanged, nothing new is recorded.
    r = run(tg, ca, case, archive, "--refresh")
    assert r.code == 0, r.err
    assert len(posts_of(archive)) == 2
    assert [a[1] for a in attempts_of(archive)] == ["captured", "captured", "unchanged"]


def test_deleted_post_is_an_attempt_and_page_gone(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("ovdinfo_test", 5012, TEXT))
    case = write_case(tmp_path, f"  - id: post\n    url: {o}/ovdinfo_test/5012\n",
                      CLAIM.format(source="post", quote="продлил арест троим фигурантам"))
    archive = tmp_path / "archive"
    assert run(tg, ca, case, archive).code == 0
    tg.set("/ovdinfo_test/5012?embed=1&mode=tme", error_page("Post not found"), Content_Type="text/html; charset=utf-8")
    r = run(tg, ca, case, archive, "--refresh")
    assert r.code == 1
    reason = ("Telegram's preview shows no post ovdinfo_test/5012: \u201cPost not found\u201d at "
              f"{o}/ovdinfo_test/5012?embed=1&mode=tme")
    assert f"failed: tg/post: gone: {reason}" in r.err
    assert attempts_of(archive) == [("tg/post", "captured", None, 1), ("tg/post", "gone", reason, None)]
    db = archive / "archive.db"
    assert query(db, "SELECT count(*) FROM captures") == [(1,)]  # never an empty capture
    assert query(db, "SELECT citation_id, finding, detail FROM drift_checks") == [("tg/extended#1", "page_gone", f"gone: {reason}")]
    assert query(db, "SELECT status, drift FROM claims") == [("sourced", "gone")]
    # The preview's answer is kept in the WARC as evidence of the deletion.
    [(warc, offset)] = query(db, "SELECT warc_file, warc_offset FROM attempts WHERE outcome = 'gone'")
    from ingest.store.warcs import record_at
    with open(archive / "warc" / warc, "rb") as fh:
        place, member = record_at(fh, offset)  # type: ignore[misc]
    assert place.target_uri == f"{o}/ovdinfo_test/5012?embed=1&mode=tme"
    assert b"Post not found" in member or b"Post not found" in __import__("zlib").decompress(member, 47)


def test_private_channel_and_private_links_are_attempts_with_telegrams_reason(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    tg.set("/closed_group/12?embed=1&mode=tme", error_page("This channel is private"), Content_Type="text/html; charset=utf-8")
    tg.set("/silent_chan/3?embed=1&mode=tme", b"<html><body><div class='tgme_page'>Telegram</div></body></html>",
           Content_Type="text/html; charset=utf-8")
    case = write_case(tmp_path, f"  - id: closed\n    url: {o}/closed_group/12\n"
                                f"  - id: chat\n    url: {o}/c/1234567/89\n"
                                f"  - id: silent\n    url: {o}/silent_chan/3\n")
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 1
    assert attempts_of(archive) == [
        ("tg/closed", "gone", "Telegram's preview shows no post closed_group/12: \u201cThis channel is private\u201d at "
                              f"{o}/closed_group/12?embed=1&mode=tme", None),
        ("tg/chat", "refused", f"{o}/c/1234567/89 names a post of a private channel or group (t.me/c/...): Telegram has "
                               "no public preview of it; the Telegram API mode (run --telegram-api) reads public channels by their username only", None),
        ("tg/silent", "failed", "the preview page holds no post silent_chan/3 (no tgme_widget_message with "
                                f"data-post=\"silent_chan/3\") at {o}/silent_chan/3?embed=1&mode=tme", None),
    ]
    assert query(archive / "archive.db", "SELECT count(*) FROM captures") == [(0,)]
    assert "/c/1234567/89" not in " ".join(tg.hits)  # a private link is never fetched


def test_channel_page_without_the_post_is_kept_but_not_called_the_channel_page(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("hidden_chan", 4, "Текст поста."))
    tg.set("/s/hidden_chan/4", b"", status=302, Location=f"{o}/hidden_chan")  # its web preview is disabled
    tg.set("/hidden_chan", b"<html><body><div class='tgme_page_title'>Hidden</div></body></html>",
           Content_Type="text/html; charset=utf-8")
    case = write_case(tmp_path, f"  - id: post\n    url: {o}/hidden_chan/4\n")
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    reason = 'the preview page holds no post hidden_chan/4 (no tgme_widget_message with data-post="hidden_chan/4")'
    assert f"note: tg/post: channel_page {o}/s/hidden_chan/4 does not show the post (kept as fetched): {reason}" in r.err
    assert [row[3:8] for row in files_of(archive)] == [("channel_page", f"{o}/s/hidden_chan/4", "no_post", reason, "text/html")]
    assert texts_of(archive)[0][1:] == ("telegram", "Текст поста.")


def test_channel_range_of_20_posts_is_one_source_per_post(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    for n in range(101, 121):
        serve(tg, Post("ovdinfo_test", n, f"Сообщение номер {n} о ходе процесса.", views=str(n * 10)))
    case = write_case(tmp_path, f"  - id: ovd\n    outlet: OVD-Info\n    telegram: {{channel: ovdinfo_test, from: 101, to: 120, base: '{o}'}}\n",
                      CLAIM.format(source="ovd-105", quote="Сообщение номер 105"))
    archive = tmp_path / "archive"
    r = run(tg, ca, case, archive)
    assert r.code == 0, r.err
    db = archive / "archive.db"
    assert query(db, "SELECT id, slug, outlet, method, url FROM sources ORDER BY rowid") == [
        (f"tg/ovd-{n}", f"ovd-{n}", "OVD-Info", "http", f"{o}/ovdinfo_test/{n}") for n in range(101, 121)]
    assert query(db, "SELECT source_id, post_id, views, views_count, views_exact FROM telegram_posts ORDER BY capture_id") == [
        (f"tg/ovd-{n}", n, str(n * 10), n * 10, 1) for n in range(101, 121)]
    assert query(db, "SELECT e.text FROM captures c JOIN extractions e ON e.blake3 = c.blake3 ORDER BY c.id") == [
        (f"Сообщение номер {n} о ходе процесса.",) for n in range(101, 121)]
    assert query(db, "SELECT id, source_id, match FROM citations") == [("tg/extended#1", "tg/ovd-105", "exact")]
    assert query(db, "SELECT count(*), count(DISTINCT capture_id) FROM post_files WHERE role = 'channel_page'") == [(20, 20)]
    assert query(db, "SELECT DISTINCT family FROM sources") == [("ovd",)]
    # One warning for the range's uncited posts, in lint and in verify, never one per post.
    warning = ("warning consistency uncited-source range ovd: 19 of 20 posts of the range are cited by no claim: "
               "ovd-101\u2026ovd-104, ovd-106\u2026ovd-120")
    lint = khronika("lint", str(case))
    assert lint.out.splitlines() == [
        warning, "lint could not read the text of 20 source(s), so their narrative was not checked: ovd-101\u2026ovd-120 "
                 "(Telegram posts of a range: URLs); verify checks the archived texts after a run",
        f"{case}: 1 consistency warning(s); nothing was changed."], lint.err
    verify = khronika("verify", "--archive", str(archive))
    assert [line for line in verify.out.splitlines() if line.startswith("warning")] == [warning], verify.out


SINGLE = "uncited-source source single: source cited by no claim"
CHAT = "uncited-source range chat: 2 of 2 posts of the range are cited by no claim: chat-7, chat-8"


@pytest.mark.parametrize(("cited", "expected"), [
    ((), ["uncited-source range ovd: 5 of 5 posts of the range are cited by no claim: ovd-1\u2026ovd-5", SINGLE, CHAT]),
    (("ovd-2", "ovd-4"), ["uncited-source range ovd: 3 of 5 posts of the range are cited by no claim: ovd-1, ovd-3, ovd-5",
                          SINGLE, CHAT]),
    (("ovd-1", "ovd-2", "ovd-3"), ["uncited-source range ovd: 2 of 5 posts of the range are cited by no claim: ovd-4, ovd-5",
                                   SINGLE, CHAT]),
    (("ovd-1", "ovd-2", "ovd-3", "ovd-4", "ovd-5", "chat-8"),
     [SINGLE, "uncited-source range chat: 1 of 2 posts of the range are cited by no claim: chat-7"]),
    (("ovd-3", "single"), ["uncited-source range ovd: 4 of 5 posts of the range are cited by no claim: ovd-1, ovd-2, ovd-4, ovd-5",
                           CHAT]),
])
def test_range_warning_is_one_line_per_range(cited: tuple[str, ...], expected: list[str]) -> None:
    from ingest.checks.consistency import ClaimFacts, SourceFacts, check

    sources = ([SourceFacts(f"ovd-{n}", family="ovd") for n in range(1, 6)] + [SourceFacts("single")]
               + [SourceFacts(f"chat-{n}", family="chat") for n in (7, 8)])
    claims = [ClaimFacts(f"c{i}", f"claim {i} about {sid}", citations=((sid, "q"),)) for i, sid in enumerate(cited, 1)]
    assert [f"{f.rule} {f.subject}: {f.detail}" for f in check(claims, sources)] == expected


@pytest.mark.parametrize(("family", "message"), [
    ("{channel: ovdinfo_test, from: 120, to: 101}", "sources.0.telegram.to: to (101) is before from (120)"),
    ("{channel: ovdinfo_test, from: 1, to: 1001}", "sources.0.telegram.to: 1001 posts; one range holds at most 1000"),
    ("{channel: 'bad name', from: 1, to: 2}", 'sources.0.telegram.channel: "bad name" is not a channel username (letters, digits, _)'),
    ("{channel: ovdinfo_test, from: 1}", "sources.0.telegram.to: required key is missing"),
    ("{channel: ovdinfo_test, from: x, to: 2}", 'sources.0.telegram.from: "x" is not a post id (1 to 2147483647)'),
    ("{channel: ovdinfo_test, from: 1, to: 2, until: 3}", 'sources.0.telegram.until: unknown key "until" (allowed: channel, from, to, base)'),
])
def test_channel_range_errors(tmp_path: Path, family: str, message: str) -> None:
    case = write_case(tmp_path, f"  - id: ovd\n    telegram: {family}\n")
    r = khronika("check", str(case))
    assert r.code == 2
    assert message in r.err, r.err


def test_channel_range_ids_must_not_collide(tmp_path: Path) -> None:
    case = write_case(tmp_path, "  - id: ovd-2\n    url: https://t.me/ovdinfo_test/2\n"
                                "  - id: ovd\n    telegram: {channel: ovdinfo_test, from: 1, to: 3}\n")
    r = khronika("check", str(case))
    assert r.code == 2
    assert 'sources.1.telegram: source id "ovd-2" of this channel range is also on line 5' in r.err, r.err


# -- the site, the log, verify and export -----------------------------------------------------------


@pytest.fixture
def followed(tmp_path: Path, tg: Site, ca: TestCA) -> tuple[Path, Path, str]:
    """A post with a photo captured, then edited, then deleted: three runs."""
    o = origin(tg)
    files = {"/file/p1.jpg": JPEG + b"p1"}
    serve(tg, Post("ovdinfo_test", 5012, TEXT, views="1.2K", photos=[f"{o}/file/p1.jpg"]), files)
    case = write_case(tmp_path, f"  - id: post\n    title: OVD-Info post\n    url: {o}/ovdinfo_test/5012\n",
                      CLAIM.format(source="post", quote="продлил арест троим фигурантам"))
    archive = tmp_path / "archive"
    assert run(tg, ca, case, archive).code == 0
    serve(tg, Post("ovdinfo_test", 5012, TEXT.replace("16 июля", "16 августа"), views="2.5K", edited=True,
                   photos=[f"{o}/file/p1.jpg"]), files)
    assert run(tg, ca, case, archive, "--refresh").code == 0
    tg.set("/ovdinfo_test/5012?embed=1&mode=tme", error_page("Post not found"), Content_Type="text/html; charset=utf-8")
    assert run(tg, ca, case, archive, "--refresh").code == 1
    return case, archive, o


def test_post_card_on_the_source_and_claim_pages(followed: tuple[Path, Path, str]) -> None:
    import asyncio
    import re
    from html import unescape

    from test_web import make_datasette

    _, archive, o = followed
    ds = make_datasette(archive)
    [(photo,)] = query(archive / "archive.db", "SELECT DISTINCT blake3 FROM post_files WHERE role = 'photo'")
    page = asyncio.run(ds.client.get("/-/source/tg/post"))
    assert page.status_code == 200
    card = page.text[page.text.index('<div class="post-card"'):]
    card = card[:card.index("</table>")]
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", card)).split())
    assert words.startswith("Support Group @ovdinfo_test · post 5012 · 2025-05-16T09:30:00+00:00 · edited "
                            "Суд в Калининграде продлил арест троим фигурантам дела до 16 августа. Подробнее: ovd.example/news/1 ")
    assert f'<img src="/-/archive/{photo}"' in card
    assert "the preview shows no post (gone): Telegram's preview shows no post ovdinfo_test/5012: “Post not found”" in words
    assert re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td></tr>", card) == ["1.2K (rounded by Telegram)", "2.5K (rounded by Telegram)"]
    edits = page.text[page.text.index('<div class="post-edit">'):]
    assert "Text changed in capture 2" in edits and "the preview marks the post “edited”" in edits
    assert '<span class="del">-Суд в Калининграде продлил арест троим фигурантам дела до 16 июля.\n</span>' in edits
    assert '<span class="add">+Суд в Калининграде продлил арест троим фигурантам дела до 16 августа.\n</span>' in edits
    # The citation shows the post as its anchored capture (the first) showed it.
    claim = asyncio.run(ds.client.get("/-/claim/tg/extended")).text
    cited = claim[claim.index('<div class="post-card" data-capture="1">'):]
    assert "дела до 16 июля." in cited[:cited.index("</table>")]


def test_posts_are_rebuilt_from_the_log_and_verify_re_reads_them(followed: tuple[Path, Path, str], tg: Site, ca: TestCA) -> None:
    case, archive, _ = followed
    before = (posts_of(archive), files_of(archive))
    r = khronika("verify", "--archive", str(archive), "--json")
    assert r.code == 3, r.out[-2000:]  # drift only: the post is gone
    checks = json.loads(r.out)["checks"]
    assert {(c["check"], c["state"]) for c in checks if c["check"] in ("reproducibility", "log")} == {
        ("reproducibility", "ok"), ("log", "ok")}
    assert [c["subject"].split(" (")[1] for c in checks if c["check"] == "reproducibility"][:2] == [
        query(archive / "archive.db", "SELECT 'telegram ' || extractor_version || ')' FROM extractions LIMIT 1")[0][0]] * 2
    (archive / "archive.db").unlink()
    r = run(tg, ca, case, archive, "--offline")
    assert (posts_of(archive), files_of(archive)) == before


def test_export_carries_the_post_rows_and_media(followed: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, archive, _ = followed
    bag = tmp_path / "bag"
    r = khronika("export", "tg", "--archive", str(archive), "--out", str(bag))
    assert r.code == 0, r.err
    photos = query(archive / "archive.db", "SELECT DISTINCT blake3 FROM post_files WHERE blake3 IS NOT NULL")
    for (b,) in photos:
        assert (bag / "data" / "files" / b).is_file()
    inside = bag / "data" / "archive.db"
    assert query(inside, "SELECT count(*) FROM telegram_posts") == [(2,)]
    assert query(inside, "SELECT count(*) FROM post_files") == [(4,)]
    # The channel pages and photos travel in the bag's WARC with the post's own exchanges.
    assert query(inside, "SELECT refers_to, count(*) FROM bag_warc_records WHERE warc_type = 'response' "
                         "GROUP BY refers_to ORDER BY refers_to") == [("attempts", 1), ("captures", 2), ("post_files", 4)]
    r = khronika("verify-bag", str(bag))
    assert r.code == 5, r.out[-3000:]  # 5: the key is not pinned; every check of the content passes but the drift
    assert "20 checks: 18 ok, 0 mismatch, 0 missing, 1 unverifiable, 1 drift. 0 gap(s) (wanted sources)." in r.out
    assert "unverifiable key " in r.out


def test_bench_reads_every_post_and_reports_posts_per_second(tmp_path: Path) -> None:
    from ingest.bench.telegram_bench import bench_telegram
    from ingest.text.extraction import EXTRACTORS

    said: list[str] = []
    b = bench_telegram(tmp_path, 5, 1, said.append)
    assert {k: b[k] for k in ("posts", "workers", "failed", "reader")} == {
        "posts": 5, "workers": 1, "failed": 0, "reader": EXTRACTORS["telegram"]}
    assert b["posts_per_second"] == round(5 / b["seconds"], 1)
    assert said == ["Telegram: reading 5 preview page(s) with 1 worker(s) ...",
                    f"Telegram posts per second: {b['posts_per_second']} (5 posts, 1 worker(s), 0 failed)"]


def test_verify_live_follows_a_post_to_its_deletion(tmp_path: Path, tg: Site, ca: TestCA) -> None:
    o = origin(tg)
    serve(tg, Post("ovdinfo_test", 5012, TEXT))
    case = write_case(tmp_path, f"  - id: post\n    url: {o}/ovdinfo_test/5012\n",
                      CLAIM.format(source="post", quote="продлил арест троим фигурантам"))
    archive = tmp_path / "archive"
    assert run(tg, ca, case, archive).code == 0
    net = ["--resolve", f"t.me:{tg.port}:127.0.0.1", "--ca-file", str(ca.ca_file)]
    r = khronika("verify", "--archive", str(archive), "--live", "--json", *net)
    assert r.code == 0, r.out[-2000:]
    tg.set("/ovdinfo_test/5012?embed=1&mode=tme", error_page("Post not found"), Content_Type="text/html; charset=utf-8")
    r = khronika("verify", "--archive", str(archive), "--live", "--json", *net)
    assert r.code == 3, r.out[-2000:]
    live = [(c["state"], c["finding"]) for c in json.loads(r.out)["checks"] if c["check"] == "live"]
    assert live == [("drift", "page_gone")]
    assert [a[:2] for a in attempts_of(archive)] == [("tg/post", "captured"), ("tg/post", "unchanged"), ("tg/post", "gone")]
