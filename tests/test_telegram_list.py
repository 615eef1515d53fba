"""Listing a channel's posts by id or date from its web preview (`telegram-list`), against a
preview served by the tests on 127.0.0.1 (the host t.me mapped to it with --resolve)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Site, khronika
from telegram_pages import Post, channel_page

DAY0 = dt.date(2025, 5, 1)


def post(n: int) -> Post:
    return Post("ovdinfo_test", n, f"Заседание номер {n}: суд продолжил рассмотрение дела.",
                datetime=f"{DAY0 + dt.timedelta(days=n - 1)}T09:30:00+00:00")


@pytest.fixture
def preview() -> Iterator[Site]:
    """45 posts, one a day from 2025-05-01; 20 to a page, newest first, as the preview pages them."""
    site = Site()
    o = f"http://t.me:{site.port}"
    html = "text/html; charset=utf-8"
    site.set("/s/ovdinfo_test", channel_page([post(n) for n in range(26, 46)], o), Content_Type=html)
    for before in range(2, 47):
        ids = list(range(max(1, before - 20), before))
        site.set(f"/s/ovdinfo_test?before={before}", channel_page([post(n) for n in ids], o), Content_Type=html)
    # A channel whose web preview is disabled: its channel page is sent on to the channel's card.
    site.set("/s/hidden_chan?before=6", b"", status=302, Location=f"{o}/hidden_chan")
    # A preview that answers every ?before= with the same page: read twice, then left.
    loop = channel_page([Post("loop_chan", n, f"Пост {n}.") for n in (10, 11, 12)], o)
    site.set("/s/loop_chan", loop, Content_Type=html)
    site.set("/s/loop_chan?before=10", loop, Content_Type=html)
    site.set("/hidden_chan", b"<html><body><div class='tgme_page_title'>Hidden</div></body></html>", Content_Type=html)
    yield site
    site.close()


def listing(site: Site, *args: str) -> tuple[int, list[str], list[str]]:
    r = khronika("telegram-list", *args, "--base", f"http://t.me:{site.port}", "--resolve", f"t.me:{site.port}:127.0.0.1")
    return r.code, r.out.splitlines(), r.err.splitlines()


def line(n: int) -> str:
    return (f"ovdinfo_test/{n}  {DAY0 + dt.timedelta(days=n - 1)}T09:30:00+00:00  "
            f"Заседание номер {n}: суд продолжил рассмотрение дела.")


def test_posts_between_two_dates(preview: Site) -> None:
    code, out, err = listing(preview, "ovdinfo_test", "--from", "2025-05-10", "--to", "2025-05-20")
    assert (code, out, err) == (0, [line(n) for n in range(10, 21)], [
        "11 post(s) of ovdinfo_test from 2025-05-10 to 2025-05-20: ids 10 to 20, read from 2 preview page(s)"])
    assert preview.hits == {"/s/ovdinfo_test": 1, "/s/ovdinfo_test?before=26": 1}


def test_posts_between_two_ids_start_at_the_upper_id(preview: Site) -> None:
    code, out, err = listing(preview, "@ovdinfo_test", "--from", "3", "--to", "30")
    assert (code, out, err) == (0, [line(n) for n in range(3, 31)], [
        "28 post(s) of ovdinfo_test from 3 to 30: ids 3 to 30, read from 2 preview page(s)"])
    assert preview.hits == {"/s/ovdinfo_test?before=31": 1, "/s/ovdinfo_test?before=11": 1}


def test_add_writes_one_channel_range_source(preview: Site, tmp_path: Path) -> None:
    case = tmp_path / "tg.yml"
    original = ("case:\n  id: tg\n  title: Telegram\nsources:\n  # the group's statement\n  - id: statement\n"
                "    url: https://example.org/statement\nclaims: []\n")
    case.write_text(original, encoding="utf-8")
    code, out, err = listing(preview, "ovdinfo_test", "--from", "2025-06-10", "--to", "2025-06-14", "--add", str(case),
                             "--id", "ovd-june")
    assert code == 0, err
    assert out == [line(n) for n in range(41, 46)] + [
        f"added channel range ovd-june (ovd-june-41\u2026ovd-june-45: 5 ids, 5 listed) to {case} at line 8"]
    assert case.read_text(encoding="utf-8") == original.replace("claims: []\n", (
        "  - id: ovd-june\n"
        f'    telegram: {{channel: ovdinfo_test, from: 41, to: 45, base: "http://t.me:{preview.port}"}}\n'
        "claims: []\n"))
    r = khronika("lint", str(case))
    assert r.out.splitlines()[1] == ("warning consistency uncited-source range ovd-june: 5 of 5 posts of the range are "
                                     "cited by no claim: ovd-june-41\u2026ovd-june-45")


@pytest.mark.parametrize(("args", "code", "err"), [
    (("hidden_chan", "--from", "1", "--to", "5"), 1, [
        "error: the preview page {o}/s/hidden_chan?before=6 shows no posts of hidden_chan (its web preview may be "
        "disabled, or the channel private or empty; reached {o}/hidden_chan)"]),
    (("ovdinfo_test", "--from", "2025-13-01", "--to", "5"), 2,
     ['error: --from "2025-13-01" is neither a post id nor a date (YYYY-MM-DD)']),
    (("ovdinfo_test", "--from", "9", "--to", "5"), 2, ["error: --to (5) is before --from (9)"]),
    (("bad name", "--from", "1", "--to", "5"), 2, ['error: "bad name" is not a channel username (letters, digits, _)']),
    (("ovdinfo_test", "--from", "2026-01-01", "--to", "2026-02-01"), 1, [
        "error: no posts of ovdinfo_test from 2026-01-01 to 2026-02-01 (read from 1 preview page(s))"]),
])
def test_listing_errors(preview: Site, args: tuple[str, ...], code: int, err: list[str]) -> None:
    o = f"http://t.me:{preview.port}"
    got = listing(preview, *args)
    assert (got[0], got[2]) == (code, [e.format(o=o) for e in err])


def test_a_preview_that_repeats_its_page_is_read_once_more_and_left(preview: Site) -> None:
    code, out, err = listing(preview, "loop_chan", "--from", "1", "--to", "2025-12-31")
    assert (code, out, err) == (0, [f"loop_chan/{n}  2025-05-16T09:30:00+00:00  Пост {n}." for n in (10, 11, 12)], [
        "3 post(s) of loop_chan from 1 to 2025-12-31: ids 10 to 12, read from 2 preview page(s)"])


def test_add_refuses_a_range_whose_ids_collide_and_leaves_the_file(preview: Site, tmp_path: Path) -> None:
    case = tmp_path / "tg.yml"
    original = "case:\n  id: tg\n  title: Telegram\nsources:\n  - id: ovd-43\n    url: https://example.org/a\n"
    case.write_text(original, encoding="utf-8")
    code, out, err = listing(preview, "ovdinfo_test", "--from", "41", "--to", "45", "--add", str(case), "--id", "ovd")
    assert code == 2
    assert err[-2:] == [f'error: {case}:8: sources.1.telegram: source id "ovd-43" of this channel range is also on line 5',
                        f"error: {case} was not changed."]
    assert case.read_text(encoding="utf-8") == original
