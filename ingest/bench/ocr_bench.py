"""OCR throughput for `make bench`: scanned PDF pages per minute through the sandboxed workers."""

from __future__ import annotations

import io
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ingest.bench.common import run_child
from ingest.bench.stats import interleave
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


def ocr_child(path: str, pages: int, out: str) -> None:
    """Child entry point: one OCR job over the scanned PDF; its result as JSON."""
    [(_, e)] = run_jobs([Job("scan", path, "application/pdf", None, ocr_pages=True, pages=pages)])
    read = len([p for p in e.pages or [] if p.has_text])
    Path(out).write_text(json.dumps({"read": read, "error": e.error, "tesseract": e.extractor_version}), encoding="utf-8")


def bench_ocr(work: Path, pages: int, say: Callable[[str], None], repeats: int = 3) -> dict[str, Any]:
    """Time one OCR job over a scanned PDF of `pages` A4 pages (rasterised at the OCR's 300 dpi), in a
    child process per round (so the peak memory of its tree, Tesseract included, is measured)."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"scan-{pages}.pdf"
    if not path.exists():
        path.write_bytes(scanned_pdf(pages))
    say(f"OCR of {pages} scanned A4 page(s), {repeats} round(s) ...")
    found: dict[str, Any] = {}
    trees: list[float] = []

    def once(n: int) -> float:
        out = work / f"ocr-{n}.json"
        run = run_child([sys.executable, "-c", "import sys; from ingest.bench.ocr_bench import ocr_child; "
                         "ocr_child(sys.argv[1], int(sys.argv[2]), sys.argv[3])", str(path), str(pages), str(out)],
                        work / f"ocr-{n}.log")
        if run.returncode != 0:
            raise click.ClickException(f"OCR benchmark exited {run.returncode}:\n{run.stderr_tail}")
        found.update(json.loads(out.read_text(encoding="utf-8")))
        trees.append(run.tree_rss_mib)
        return run.seconds

    series = interleave([("ocr", once)], repeats)["ocr"]
    read = found["read"]
    kept = series.as_json()  # the rates from the times as recorded, so the results agree with themselves
    return {"pages": pages, "pages_read": read, "seconds": round(series.min, 2), "error": found["error"],
            "series": kept, "repeats": repeats,
            "pages_per_minute": round(60 * read / kept["min"], 1) if read else 0.0,
            "pages_per_minute_median": round(60 * read / kept["median"], 1) if read else 0.0,
            "tree_rss_mib": round(max(trees), 1), "dpi": ocr.DPI,
            "tesseract": found["tesseract"], "languages": "+".join(ocr.LANGUAGES)}
