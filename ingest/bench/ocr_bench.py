"""OCR throughput for `make bench`: scanned PDF pages per minute through the sandboxed workers."""

from __future__ import annotations

import io
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.bench.synth import DEJAVU
from ingest.text import ocr
from ingest.text.workers import Job, run_jobs

_WORDS = ("суд решение задержание защита заседание статья приговор апелляция court decision detention "
          "defence hearing article sentence appeal").split()


def scanned_pdf(pages: int, seed: int = 1) -> bytes:
    """An image-only PDF of A4 pages, each a 150 dpi gray scan of 30 lines of seeded Russian and English words."""
    from PIL import Image, ImageDraw, ImageFont
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    font = ImageFont.truetype(DEJAVU, 24)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=1, pagesize=(595, 842))
    for _ in range(pages):
        image = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(image)
        for line in range(30):
            draw.text((100, 100 + 50 * line), " ".join(rng.choice(_WORDS) for _ in range(9)), font=font, fill=0)
        c.drawImage(ImageReader(image), 0, 0, width=595, height=842)
        c.showPage()
    c.save()
    return buf.getvalue()


def bench_ocr(work: Path, pages: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Time one OCR job over a scanned PDF of `pages` A4 pages (rasterised at the OCR's 300 dpi)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"scan-{pages}.pdf"
    if not path.exists():
        path.write_bytes(scanned_pdf(pages))
    say(f"OCR of {pages} scanned A4 page(s) ...")
    start = time.perf_counter()
    [(_, e)] = run_jobs([Job("scan", str(path), "application/pdf", None, ocr_pages=True, pages=pages)])
    seconds = time.perf_counter() - start
    read = len([p for p in e.pages or [] if p.has_text])
    return {"pages": pages, "pages_read": read, "seconds": round(seconds, 2), "error": e.error,
            "pages_per_minute": round(60 * read / seconds, 1) if read else 0.0, "dpi": ocr.DPI,
            "tesseract": e.extractor_version, "languages": "+".join(ocr.LANGUAGES)}
