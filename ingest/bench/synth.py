"""Synthetic corpora for benchmarks and tests: HTML pages and PDFs in Russian and English, and a case file quoting them.

Text is random sentences drawn from the word lists below (seeded, so a corpus is the same on
every machine). Every claim quotes one whole sentence that occurs exactly once in its document,
so every quote should anchor exactly; a quote that does not is a finding about the pipeline.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

EN_WORDS = """
court hearing judge lawyer defence appeal verdict sentence fine arrest detention search
witness statement report police officer student university teacher worker journalist
editor publisher leaflet brochure meeting rally protest picket banner monument square
street district city region morning evening night week month year spring autumn winter
document record file archive copy page letter message channel account phone laptop
charge article code case investigation prosecutor investigator committee ministry
office building corridor cell room door window table chair paper ink photograph
camera video recording transcript speech phrase word question answer silence noise
quickly slowly later earlier again never always often rarely openly quietly formally
reported confirmed denied described announced recorded noted stated claimed refused
signed released detained questioned searched seized returned visited published deleted
new old small large local federal public private formal brief long short final first
""".split()

RU_WORDS = """
суд заседание судья адвокат защита апелляция приговор штраф арест задержание обыск
свидетель заявление отчёт полиция сотрудник студент университет учитель рабочий журналист
редактор издатель листовка брошюра собрание митинг протест пикет плакат памятник площадь
улица район город область утро вечер ночь неделя месяц год весна осень зима
документ запись дело архив копия страница письмо сообщение канал телефон ноутбук
обвинение статья кодекс расследование прокурор следователь комитет министерство
кабинет здание коридор камера комната дверь окно стол стул бумага фотография
видео протокол речь фраза слово вопрос ответ тишина шум ёлка серьёзно
быстро медленно позже раньше снова никогда всегда часто редко открыто тихо официально
сообщил подтвердил отрицал описал объявил записал отметил заявил утверждал отказался
подписал освободил задержал допросил обыскал изъял вернул посетил опубликовал удалил
новый старый малый большой местный федеральный публичный частный краткий долгий первый
""".split()

NAV_EN = ["Home", "World", "Politics", "Courts", "Opinion", "Contact", "About us", "Subscribe"]
NAV_RU = ["Главная", "Мир", "Политика", "Суды", "Мнения", "Контакты", "О нас", "Подписка"]


@dataclass
class Doc:
    slug: str
    relpath: str  # relative to the case file's folder
    language: str
    sentences: list[str]  # every sentence that a quote may be taken from


def sentence(rng: random.Random, words: list[str], lo: int = 7, hi: int = 16, max_chars: int | None = None) -> str:
    while True:
        n = rng.randint(lo, hi)
        text = " ".join(rng.choice(words) for _ in range(n))
        text = text[0].upper() + text[1:] + "."
        if max_chars is None or len(text) <= max_chars:
            return text


def _paragraph_count(rng: random.Random) -> int:
    """Mostly short pages, some long ones (a rough log-uniform spread from 3 to 120 paragraphs)."""
    return int(round(3 * (40 ** rng.random())))


def html_page(rng: random.Random, lang: str, n: int) -> tuple[bytes, list[str]]:
    """One article page with navigation and footer boilerplate; returns (bytes, article sentences)."""
    words = RU_WORDS if lang == "ru" else EN_WORDS
    nav = NAV_RU if lang == "ru" else NAV_EN
    title = sentence(rng, words, 4, 8)[:-1]
    paragraphs = [[sentence(rng, words) for _ in range(rng.randint(2, 6))] for _ in range(_paragraph_count(rng))]
    cp1251 = lang == "ru" and rng.random() < 0.2
    charset = "windows-1251" if cp1251 else "utf-8"
    body = "\n".join(f"<p>{' '.join(p)}</p>" for p in paragraphs)
    links = "".join(f'<li><a href="/{i}">{name}</a></li>' for i, name in enumerate(nav))
    page = (
        f'<!doctype html>\n<html lang="{lang}"><head><meta charset="{charset}"><title>{title}</title>\n'
        f'<meta name="author" content="{sentence(rng, words, 2, 2)[:-1]}">'
        f'<meta name="date" content="2024-{1 + n % 12:02d}-{1 + n % 28:02d}"></head>\n'
        f"<body><header><nav><ul>{links}</ul></nav></header>\n<main><article><h1>{title}</h1>\n{body}\n</article></main>\n"
        f"<footer><p>© {sentence(rng, words, 3, 5)}</p><ul>{links}</ul></footer></body></html>\n"
    )
    return page.encode(charset), [s for p in paragraphs for s in p]


def pdf_document(rng: random.Random, lang: str, title: str) -> tuple[bytes, list[str], list[int]]:
    """A PDF of several pages, one short sentence per line; returns (bytes, sentences, page of each)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    if "DejaVu" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("DejaVu", DEJAVU))
    words = RU_WORDS if lang == "ru" else EN_WORDS
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1)
    c.setTitle(title)
    sentences: list[str] = []
    pages: list[int] = []
    for page in range(1, rng.randint(2, 6) + 1):
        c.setFont("DejaVu", 9)
        y = 760
        for _ in range(rng.randint(20, 45)):
            s = sentence(rng, words, 5, 9, max_chars=90)
            c.drawString(50, y, s)
            sentences.append(s)
            pages.append(page)
            y -= 15
        c.showPage()
    c.save()
    return buf.getvalue(), sentences, pages


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is a subset of it)."""
    return json.dumps(value, ensure_ascii=False)


def _unique(sentences: list[str], rng: random.Random) -> str | None:
    text = "\n".join(sentences)
    for s in rng.sample(sentences, min(len(sentences), 8)):
        if text.count(s) == 1:
            return s
    return None


def write_case(folder: Path, docs: list[Doc], claims: int, seed: int, case_id: str = "bench") -> Path:
    """Write folder/<case_id>.yml: every doc as a local source, `claims` claims quoting them."""
    rng = random.Random(seed + 1)
    lines = [
        "case:", f"  id: {_q(case_id)}", f"  title: {_q('Synthetic benchmark case ' + case_id)}", "sources:",
    ]
    for d in docs:
        lines += [f"  - id: {_q(d.slug)}", f"    path: {_q(d.relpath)}", "    kind: report",
                  f"    language: {_q(d.language)}"]
    quotable = [d for d in docs if d.sentences]
    if claims and quotable:
        lines.append("claims:")
    for i in range(claims if quotable else 0):
        lines += [f"  - id: c-{i + 1:06d}", f"    text: {_q(sentence(rng, EN_WORDS))}", "    citations:"]
        for j in range(1 + (i % 3 == 0)):
            d = quotable[(i + j * 7919) % len(quotable)]
            quote = _unique(d.sentences, rng)
            if quote is None:
                continue
            lines += [f"      - source: {_q(d.slug)}", f"        quote: {_q(quote)}",
                      f"        stance: {'supports' if j == 0 else 'mentions'}"]
        if lines[-1] == "    citations:":  # no quotable sentence found: cite the first one anyway
            lines += [f"      - source: {_q(quotable[0].slug)}", f"        quote: {_q(quotable[0].sentences[0])}",
                      "        stance: supports"]
    case = folder / f"{case_id}.yml"
    case.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return case


def build(folder: Path, docs: int, claims: int, *, seed: int = 1, pdf_share: float = 0.1) -> tuple[Path, list[Doc]]:
    """Generate `docs` documents under folder/docs and a case file citing them; return (case file, docs)."""
    rng = random.Random(seed)
    out = folder / "docs"
    out.mkdir(parents=True, exist_ok=True)
    made: list[Doc] = []
    for i in range(docs):
        lang = "ru" if rng.random() < 0.5 else "en"
        slug = f"d-{i + 1:06d}"
        if rng.random() < pdf_share:
            data, sentences, _ = pdf_document(rng, lang, f"{slug} {lang}")
            rel = f"docs/{slug}.pdf"
        else:
            data, sentences = html_page(rng, lang, i)
            rel = f"docs/{slug}.html"
        (folder / rel).write_bytes(data)
        made.append(Doc(slug, rel, lang, sentences))
    return write_case(folder, made, claims, seed), made


def from_directory(source: Path, folder: Path, claims: int, *, limit: int | None = None,
                   seed: int = 1) -> tuple[Path, list[Doc]]:
    """Copy real documents (*.html, *.html.gz gunzipped, *.pdf, *.txt) and cite lines of their extracted text."""
    from ingest.capture.fetch import sniff_media_type
    from ingest.text.extract import extract

    out = folder / "docs"
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.name.endswith((".html", ".htm", ".html.gz", ".pdf", ".txt")))
    made: list[Doc] = []
    for i, path in enumerate(files[:limit] if limit else files):
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        slug = f"d-{i + 1:06d}"
        rel = f"docs/{slug}-{Path(name).suffix.lstrip('.') or 'bin'}{Path(name).suffix}"
        (folder / rel).write_bytes(data)
        ex = extract(data, sniff_media_type(data, None))
        lines = [ln.strip() for ln in (ex.text or "").splitlines()]
        lines = [ln for ln in lines if 40 <= len(ln) <= 300 and (ex.text or "").count(ln) == 1]
        made.append(Doc(slug, rel, "und", lines))
    return write_case(folder, made, claims, seed), made


def subset(folder: Path, docs: Iterable[Doc], claims: int, case_id: str, seed: int = 1) -> Path:
    """Another case file in the same folder citing only `docs` (for runs at a smaller size)."""
    return write_case(folder, list(docs), claims, seed, case_id)


def clean(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
