"""Tests for ingest.text.extract (bytes -> text + metadata) and ingest.text.workers (sandboxed runs)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pypdf
import pytest
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from ingest.errors import ExtractionFailed
from ingest.text.extract import (
    Extraction,
    PageSpan,
    decode_html,
    extract,
    extractor_versions,
)
from ingest.text.workers import TEST_HOG_TYPE, Job, WorkerLimits, run_jobs

ROOT = Path(__file__).resolve().parents[1]
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# --- sample documents, all made here ---------------------------------------------

ARTICLE_UTF8 = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Detentions in Kazan | Example News</title>
<meta name="author" content="Anna Petrova">
<meta property="article:published_time" content="2023-05-17T09:30:00+03:00">
<meta property="og:site_name" content="Example News">
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>Detentions in Kazan</h1>
<p>Police detained at least twelve people at a peaceful picket in Kazan on Tuesday morning.</p>
<p>Witnesses said officers arrived in three buses and took the protesters to the central station.</p>
<p>The detainees were released late at night without charge, according to their lawyers.</p>
</article>
<footer>Copyright Example News</footer>
</body></html>"""

ARTICLE_RU = """<html><head>{meta}<title>Задержания в Казани</title></head><body>
<article><h1>Задержания в Казани</h1>
<p>Полиция задержала не менее двенадцати человек на мирном пикете в Казани во вторник утром.</p>
<p>Свидетели рассказали, что сотрудники приехали на трёх автобусах и увезли участников в отдел.</p>
<p>Задержанных отпустили поздно ночью без составления протоколов, сообщили их адвокаты.</p>
</article></body></html>"""

RU_SENTENCE = "Полиция задержала не менее двенадцати человек на мирном пикете в Казани во вторник утром."

SCRIPT_SHELL = (
    b'<html><head><title>App</title><script src="/static/app.js"></script></head>'
    b'<body><div id="root"></div><script>window.__STATE__={"page":1}</script></body></html>'
)
NOSCRIPT_SHELL = (
    b'<html><head><title>App</title><script src="/static/app.js"></script></head>'
    b'<body><div id="root"></div><noscript>You need to enable JavaScript to run this app.'
    b"</noscript></body></html>"
)

PAGES_RU = [
    "Первая страница: задержание в Москве.",
    "Вторая страница: суд в Казани.",
    "Третья страница: приговор оглашён.",
]


def _font() -> str:
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVuSans", DEJAVU))
    return "DejaVuSans"


def make_pdf(pages: list[str | None], title: str | None = None, author: str | None = None) -> bytes:
    """A PDF with one page per entry: a line of text, or (None) only a filled rectangle."""
    font = _font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    if title:
        c.setTitle(title)
    if author:
        c.setAuthor(author)
    for line in pages:
        if line is None:
            c.rect(72, 500, 300, 200, fill=1)
        else:
            c.setFont(font, 14)
            c.drawString(72, 720, line)
        c.showPage()
    c.save()
    return buf.getvalue()


def rewrite_pdf(data: bytes, labels: list[tuple] = (), user_password: str | None = None,
                owner_password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    for args in labels:
        writer.set_page_label(*args)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner_password,
                       algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def ru_pdf() -> bytes:
    return make_pdf(PAGES_RU, title="Доклад о задержаниях", author="Правозащитный центр")


# --- HTML ------------------------------------------------------------------------------


def test_html_utf8_article_metadata_and_text():
    e = extract(ARTICLE_UTF8.encode("utf-8"), "text/html", "utf-8")
    assert e.error is None
    assert e.extractor == "trafilatura"
    assert e.extractor_version == extractor_versions()["trafilatura"]
    assert e.title == "Detentions in Kazan"
    assert e.author == "Anna Petrova"
    assert e.date == "2023-05-17"
    assert e.sitename == "Example News"
    assert e.language == "en"
    assert (e.charset, e.charset_source) == ("utf-8", "http")
    assert "Police detained at least twelve people at a peaceful picket in Kazan on Tuesday morning." in e.text
    assert "Copyright Example News" not in e.text
    assert e.text_blake3 == blake3.blake3(e.text.encode("utf-8")).hexdigest()


def test_html_options_are_recorded_and_json_serialisable():
    e = extract(ARTICLE_UTF8.encode("utf-8"), "text/html")
    json.dumps(e.options)
    assert e.options["include_comments"] is False
    assert e.options["include_tables"] is True
    assert e.options["favor_precision"] is False
    assert e.options["deduplicate"] is False
    assert e.options["with_metadata"] is True
    assert e.options["config"]["MIN_EXTRACTED_SIZE"] == "250"
    assert set(e.options["date_extraction_params"]) == {"original_date", "extensive_search", "max_date"}


@pytest.mark.parametrize(
    "encoding, meta, http, charset, source",
    [
        ("cp1251", '<meta charset="windows-1251">', None, "windows-1251", "meta"),
        ("cp1251", '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
         None, "windows-1251", "meta"),
        ("koi8_r", "", "koi8-r", "koi8-r", "http"),
        ("koi8_r", "", "text/html; charset=KOI8-R", "koi8-r", "http"),
        ("utf-8", "", None, "utf-8", "detected"),
    ],
)
def test_html_russian_charsets(encoding, meta, http, charset, source):
    data = ARTICLE_RU.format(meta=meta).encode(encoding)
    e = extract(data, "text/html", http)
    assert e.error is None
    assert (e.charset, e.charset_source) == (charset, source)
    assert e.title == "Задержания в Казани"
    assert RU_SENTENCE in e.text


def test_html_wrong_http_charset_wins_as_in_a_browser():
    # A browser reads cp1251 bytes sent as UTF-8 as U+FFFD, whatever the page's <meta> says:
    # so does the extraction, and a quote in them is not found.
    data = ARTICLE_RU.format(meta='<meta charset="windows-1251">').encode("cp1251")
    e = extract(data, "text/html", "utf-8")
    assert (e.charset, e.charset_source) == ("utf-8", "http")
    assert e.title == "Задержания в Казани".encode("cp1251").decode("utf-8", "replace")
    assert RU_SENTENCE not in (e.text or "")
    assert e.metadata["replacement_characters"] > 100


def test_html_charset_from_media_type_parameter():
    data = ARTICLE_RU.format(meta="").encode("koi8_r")
    e = extract(data, "text/html; charset=koi8-r")
    assert (e.charset, e.charset_source) == ("koi8-r", "http")
    assert RU_SENTENCE in e.text


@pytest.mark.parametrize(
    "data, http, expected",
    [
        (b"\xef\xbb\xbf<p>\xd0\x94\xd0\xb0</p>", "windows-1251", ("<p>Да</p>", "utf-8", "bom")),
        ("<p>Да</p>".encode("utf-16-le"), None, None),  # no BOM, not ASCII-compatible: detected
        (b"<meta charset='koi8-r'><p>\xe4\xc1</p>", None, ("<meta charset='koi8-r'><p>Да</p>", "koi8-r", "meta")),
        (b"<!-- <meta charset='koi8-r'> --><p>\xd0\x94\xd0\xb0</p>", None,
         ("<!-- <meta charset='koi8-r'> --><p>Да</p>", "utf-8", "detected")),
        (b"<p>caf\xe9</p>", "no-such-charset", None),
        (b"<p>x</p>", "iso-8859-1", ("<p>x</p>", "windows-1252", "http")),
        (b'<?xml version="1.0" encoding="koi8-r"?><p>\xe4\xc1</p>', None,
         ('<?xml version="1.0" encoding="koi8-r"?><p>Да</p>', "koi8-r", "meta")),
    ],
)
def test_decode_html(data, http, expected):
    text, charset, source = decode_html(data, http)
    if expected is not None:
        assert (text, charset, source) == expected
    else:
        assert source == "detected"


def test_decode_html_unknown_http_label_falls_back():
    text, charset, source = decode_html("<p>café au lait, s'il vous plaît</p>".encode("cp1252"), "bogus")
    assert source == "detected"
    assert text == "<p>café au lait, s'il vous plaît</p>"


@pytest.mark.parametrize(
    "data, reason",
    [
        (SCRIPT_SHELL, "no text extracted (trafilatura found no main content)"),
        (NOSCRIPT_SHELL,
         "no text extracted (interstitial page: 'You need to enable JavaScript to run this app.')"),
        (b"", "no text extracted (trafilatura found no main content)"),
        (b"<html><body></body></html>", "no text extracted (trafilatura found no main content)"),
    ],
)
def test_html_without_text_is_a_failure(data, reason):
    e = extract(data, "text/html")
    assert e.error == reason
    assert e.text is None and e.text_blake3 is None
    with pytest.raises(ExtractionFailed, match="no text extracted"):
        e.check()


# --- PDF -----------------------------------------------------------------------------


def test_pdf_cyrillic_pages(ru_pdf):
    e = extract(ru_pdf, "application/pdf")
    assert e.error is None
    assert e.extractor == "pypdf"
    assert e.page_count == 3
    assert e.has_text_layer is True
    assert e.title == "Доклад о задержаниях"
    assert e.author == "Правозащитный центр"
    assert e.date == "2000-01-01T00:00:00+00:00"  # reportlab's invariant CreationDate
    assert e.metadata["info"]["/Title"] == "Доклад о задержаниях"
    assert e.metadata["text_layer"] == "full"
    assert e.text == "Первая страница: задержание в Москве.\n\fВторая страница: суд в Казани.\n\fТретья страница: приговор оглашён.\n"
    assert e.pages == [
        PageSpan(number=1, label=None, start=0, end=38, has_text=True),
        PageSpan(number=2, label=None, start=39, end=70, has_text=True),
        PageSpan(number=3, label=None, start=71, end=106, has_text=True),
    ]
    for span, sentence in zip(e.pages, PAGES_RU):
        assert sentence in e.text[span.start:span.end]
    assert e.options["page_separator"] == "\f"


def test_pdf_page_labels(ru_pdf):
    data = rewrite_pdf(ru_pdf, labels=[(0, 0, "/r", None, 1), (1, 2, "/D", "A-", 7)])
    e = extract(data, "application/pdf")
    assert e.error is None
    assert [p.label for p in e.pages] == ["i", "A-7", "A-8"]
    assert [p.number for p in e.pages] == [1, 2, 3]


def test_pdf_without_text_layer_is_recorded_not_failed():
    e = extract(make_pdf([None, None]), "application/pdf")
    assert e.error is None
    assert e.has_text_layer is False
    assert e.metadata["text_layer"] == "none"
    assert e.page_count == 2
    assert e.text == "\f"
    assert [(p.start, p.end, p.has_text) for p in e.pages] == [(0, 0, False), (1, 1, False)]


def test_pdf_partly_scanned_lists_pages_without_text():
    e = extract(make_pdf(["Только эта страница с текстом.", None]), "application/pdf")
    assert e.has_text_layer is True
    assert e.metadata["text_layer"] == "partial"
    assert e.metadata["pages_without_text"] == [2]


@pytest.mark.parametrize(
    "cut, error",
    [
        (0.5, "malformed PDF: PdfStreamError: Stream has ended unexpectedly"),
        (10, "malformed PDF: PdfReadError: startxref not found"),
    ],
)
def test_pdf_truncated(ru_pdf, cut, error):
    n = int(len(ru_pdf) * cut) if isinstance(cut, float) else cut
    e = extract(ru_pdf[:n], "application/pdf")
    assert e.error == error
    assert e.text is None and e.pages is None


def test_pdf_with_user_password_needs_it(ru_pdf):
    e = extract(rewrite_pdf(ru_pdf, user_password="secret", owner_password="owner"), "application/pdf")
    assert e.error == "encrypted PDF: password required"
    assert e.text is None
    assert e.metadata["encrypted"] is True


def test_pdf_with_owner_password_only_opens(ru_pdf):
    e = extract(rewrite_pdf(ru_pdf, user_password="", owner_password="owner"), "application/pdf")
    assert e.error is None
    assert e.metadata["decrypted_with_empty_password"] is True
    assert PAGES_RU[1] in e.text


# --- plain text and the rest -------------------------------------------------------


@pytest.mark.parametrize(
    "data, declared, text, charset, source",
    [
        (b"line one\r\nline two\n\ttabbed  \n\n", None, "line one\r\nline two\n\ttabbed  \n\n", "utf-8", "detected"),
        ("Да\r\nнет".encode("cp1251"), "windows-1251", "Да\r\nнет", "windows-1251", "http"),
        (b"\xef\xbb\xbf  spaced\r", "windows-1251", "  spaced\r", "utf-8", "bom"),
        (b"\xff\xfe" + "Др".encode("utf-16-le"), None, "Др", "utf-16le", "bom"),
        (b"", None, "", "utf-8", "detected"),
        (b"\x00\x01 \xe2\x80\xa8", None, "\x00\x01 \u2028", "utf-8", "detected"),
    ],
)
def test_plain_text_is_kept_exactly(data, declared, text, charset, source):
    e = extract(data, "text/plain", declared)
    assert e.error is None
    assert e.text == text
    assert (e.charset, e.charset_source) == (charset, source)
    assert e.extractor == "text"
    assert e.text_blake3 == blake3.blake3(text.encode("utf-8")).hexdigest()


def test_plain_text_declared_charset_is_used_as_a_browser_uses_it():
    # us-ascii is a label of windows-1252: a browser shows UTF-8 bytes sent so as mojibake.
    e = extract("Пример".encode("utf-8"), "text/plain", "us-ascii")
    assert e.text == "Пример".encode("utf-8").decode("cp1252")
    assert (e.charset, e.charset_source) == ("windows-1252", "http")


def test_plain_text_unknown_declared_label_is_ignored_and_recorded():
    e = extract("Пример текста для проверки".encode("utf-8"), "text/plain", "utf-7")
    assert e.text == "Пример текста для проверки"
    assert (e.charset, e.charset_source) == ("utf-8", "detected")
    assert e.metadata["http_charset_ignored"] == "utf-7 (not a label of the WHATWG Encoding Standard)"


@pytest.mark.parametrize("media_type", ["image/gif", "application/octet-stream", ""])  # PNG, JPEG, TIFF: OCR
def test_unsupported_media_type(media_type):
    e = extract(b"\x89PNG\r\n", media_type)
    assert e.error == f"unsupported media type {media_type or repr(media_type)}"
    assert e.text is None


def test_extraction_json_round_trip(ru_pdf):
    e = extract(ru_pdf, "application/pdf")
    again = Extraction.from_json(json.loads(json.dumps(e.to_json())))
    assert again == e
    assert isinstance(again.pages[0], PageSpan)


# --- determinism -----------------------------------------------------------------------


def test_same_bytes_same_hash_in_worker_processes(tmp_path):
    html = tmp_path / "page.html"
    html.write_bytes(ARTICLE_RU.format(meta='<meta charset="windows-1251">').encode("cp1251"))
    jobs = [Job(f"copy{i}", str(html), "text/html", None) for i in range(2)]
    results = {job.key: e for job, e in run_jobs(jobs, workers=2)}
    local = extract(html.read_bytes(), "text/html")
    assert results["copy0"].text_blake3 == results["copy1"].text_blake3 == local.text_blake3
    assert local.text_blake3 is not None


def test_same_bytes_same_hash_across_interpreters_with_other_hash_seeds(tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(ARTICLE_UTF8.encode("utf-8"))
    code = ("import sys; from ingest.text.extract import extract; "
            "print(extract(open(sys.argv[1], 'rb').read(), 'text/html').text_blake3)")
    hashes = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", code, str(page)], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        hashes.add(out.stdout.strip())
    assert hashes == {extract(page.read_bytes(), "text/html").text_blake3}


# --- workers -------------------------------------------------------------------------


@pytest.fixture
def hooks(monkeypatch, tmp_path):
    monkeypatch.setenv("KHRONIKA_TEST_HOOKS", "1")

    def job(what: str) -> Job:
        path = tmp_path / f"{what}.hog"
        path.write_text(what)
        return Job(what, str(path), TEST_HOG_TYPE, None)

    return job


@pytest.fixture
def good_job(tmp_path) -> Job:
    path = tmp_path / "good.txt"
    path.write_bytes("Свидетельство.\r\n".encode("utf-8"))
    return Job("good", str(path), "text/plain", None)


@pytest.mark.parametrize(
    "what, limits, error",
    [
        ("memory", WorkerLimits(memory_bytes=512 * 2**20), "exceeded memory limit of 512 MiB"),
        ("memory", WorkerLimits(), "exceeded memory limit of 2.0 GiB"),
        ("cpu", WorkerLimits(cpu_seconds=1), "exceeded CPU limit of 1 s"),
        ("sleep", WorkerLimits(wall_seconds=0.5), "timed out after 0.5 s"),
        ("kill", WorkerLimits(), "extraction worker killed by signal SIGKILL"),
        ("segv", WorkerLimits(), "extraction worker killed by signal SIGSEGV"),
        ("exit", WorkerLimits(), "extraction worker exited with status 3"),
    ],
)
def test_worker_failure_is_reported_and_batch_goes_on(hooks, good_job, what, limits, error):
    results = list(run_jobs([hooks(what), good_job], workers=1, limits=limits))
    assert [job.key for job, _ in results] == [what, "good"]
    bad, good = results[0][1], results[1][1]
    assert bad.error == error
    assert bad.text is None and bad.text_blake3 is None
    assert good.error is None
    assert good.text == "Свидетельство.\r\n"


def test_jobs_queued_behind_a_dying_job_go_to_the_next_worker(hooks, tmp_path, monkeypatch):
    """While a worker is busy one more job waits in its pipe; when the worker dies or is replaced,
    every job still gets its own result, in order, with one worker (here replaced every 2 jobs)."""
    from ingest.text import workers

    monkeypatch.setattr(workers, "RECYCLE_AFTER", 2)
    goods = []
    for n in range(5):
        path = tmp_path / f"good-{n}.txt"
        path.write_text(f"Текст {n}.", encoding="utf-8")
        goods.append(Job(f"good-{n}", str(path), "text/plain", None))
    batch = [hooks("kill"), goods[0], goods[1], hooks("exit"), goods[2], hooks("sleep"), goods[3], goods[4]]
    results = list(run_jobs(batch, workers=1, limits=WorkerLimits(wall_seconds=0.5)))
    assert [(job.key, e.error, e.text) for job, e in results] == [
        ("kill", "extraction worker killed by signal SIGKILL", None), ("good-0", None, "Текст 0."),
        ("good-1", None, "Текст 1."), ("exit", "extraction worker exited with status 3", None),
        ("good-2", None, "Текст 2."), ("sleep", "timed out after 0.5 s", None),
        ("good-3", None, "Текст 3."), ("good-4", None, "Текст 4.")]


def test_each_result_goes_to_its_own_job_when_a_worker_runs_ahead(tmp_path):
    """The caller takes its time over each result, so the worker has written the next one (the job
    queued behind) before the first is read: one read then holds two results, and each is its own."""
    jobs = []
    for n in range(8):
        path = tmp_path / f"doc-{n}.txt"
        path.write_text(f"Документ номер {n}." * (n * 3000 + 1), encoding="utf-8")  # up to ~0.8 MB of results
        jobs.append(Job(f"doc-{n}", str(path), "text/plain", None))
    seen = []
    for job, e in run_jobs(jobs, workers=1):
        seen.append((job.key, e.text == Path(job.path).read_text(encoding="utf-8"), e.error))
        time.sleep(0.2)
    assert seen == [(f"doc-{n}", True, None) for n in range(8)]


def test_worker_runs_jobs_in_parallel_and_yields_in_completion_order(hooks, good_job):
    limits = WorkerLimits(wall_seconds=1.0)
    results = list(run_jobs([hooks("sleep"), good_job], workers=2, limits=limits))
    assert [job.key for job, _ in results] == ["good", "sleep"]


def test_test_hooks_are_off_without_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("KHRONIKA_TEST_HOOKS", raising=False)
    path = tmp_path / "x.hog"
    path.write_text("kill")
    [(_, e)] = run_jobs([Job("x", str(path), TEST_HOG_TYPE, None)])
    assert e.error == f"unsupported media type {TEST_HOG_TYPE}"


def test_worker_reports_unreadable_file(tmp_path):
    [(_, e)] = run_jobs([Job("gone", str(tmp_path / "missing.pdf"), "application/pdf", None)])
    assert e.error == f"cannot read {tmp_path / 'missing.pdf'}: No such file or directory"
    assert e.extractor == "pypdf"


def test_worker_results_equal_in_process_results(tmp_path, ru_pdf):
    path = tmp_path / "doc.pdf"
    path.write_bytes(ru_pdf)
    [(_, e)] = run_jobs([Job("doc", str(path), "application/pdf", None)])
    assert e == extract(ru_pdf, "application/pdf")


def test_closing_the_generator_early_reaps_children(hooks, good_job):
    gen = run_jobs([good_job, hooks("sleep"), hooks("sleep")], workers=3)
    first_job, _ = next(gen)
    assert first_job.key == "good"
    gen.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_run_jobs_calls_idle_while_a_worker_is_busy(hooks) -> None:  # noqa: ANN001
    """The caller's group commit runs on time while an extraction takes long (here: until its limit)."""
    from ingest.text import workers

    calls: list[float] = []
    [(job, e)] = list(run_jobs([hooks("sleep")], limits=WorkerLimits(wall_seconds=2), idle=lambda: calls.append(time.monotonic())))
    assert e.error == "timed out after 2 s"
    assert len(calls) >= 2 / workers.IDLE_EVERY / 2  # at least every other quarter second over the two seconds
    assert max(b - a for a, b in zip(calls, calls[1:])) < 1.0
