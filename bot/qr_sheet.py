"""A printable sheet of claim codes: A4 pages of QR codes (each a deep link), the code printed
under each, saved as one multi-page PDF with Pillow.

Drawing is plain CPU work: call it in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import qrcode  # type: ignore[import-untyped]  # the library ships no type hints
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]

# A4 at 150 dots per inch; 4 x 5 codes a page, each QR about 4 cm wide once printed.
DPI = 150
PAGE_SIZE = (1240, 1754)
COLUMNS, ROWS = 4, 5
PER_PAGE = COLUMNS * ROWS
MARGIN = 60
QR_SIZE = 240
CODE_FONT_SIZE = 30
FOOTER_FONT_SIZE = 22


@dataclass(frozen=True)
class SheetEntry:
    code: str
    link: str


def render_pdf(entries: Sequence[SheetEntry], footer: str) -> bytes:
    """The PDF: ``footer`` (ASCII: batch number, points) and the page number on each page."""
    if not entries:
        raise ValueError("a sheet needs at least one code")
    pages = [
        _page(entries[start : start + PER_PAGE], f"{footer} · {n + 1}/{_pages(entries)}")
        for n, start in enumerate(range(0, len(entries), PER_PAGE))
    ]
    buffer = io.BytesIO()
    pages[0].save(
        buffer, format="PDF", save_all=True, append_images=pages[1:], resolution=float(DPI)
    )
    return buffer.getvalue()


def page_count(entries: Sequence[SheetEntry]) -> int:
    return _pages(entries)


def _pages(entries: Sequence[SheetEntry]) -> int:
    return -(-len(entries) // PER_PAGE)


def _page(entries: Sequence[SheetEntry], footer: str) -> Image.Image:
    page = Image.new("L", PAGE_SIZE, 255)
    draw = ImageDraw.Draw(page)
    code_font = ImageFont.load_default(size=CODE_FONT_SIZE)
    footer_font = ImageFont.load_default(size=FOOTER_FONT_SIZE)
    width, height = PAGE_SIZE
    cell_w = (width - 2 * MARGIN) // COLUMNS
    cell_h = (height - 2 * MARGIN - FOOTER_FONT_SIZE * 2) // ROWS
    for index, entry in enumerate(entries):
        row, column = divmod(index, COLUMNS)
        left, top = MARGIN + column * cell_w, MARGIN + row * cell_h
        qr = _qr(entry.link)
        offset = (QR_SIZE - qr.width) // 2
        page.paste(qr, (left + (cell_w - QR_SIZE) // 2 + offset, top + 10 + offset))
        draw.text(
            (left + cell_w // 2, top + 10 + QR_SIZE + 12),
            entry.code,
            fill=0,
            font=code_font,
            anchor="mt",
        )
        # A light cutting line around each cell.
        draw.rectangle((left, top, left + cell_w, top + cell_h), outline=200)
    draw.text((width // 2, height - MARGIN), footer, fill=80, font=footer_font, anchor="mb")
    return page.convert("1")  # black and white: a page is some 30 kB in the PDF


def _qr(link: str) -> Image.Image:
    """The QR code of ``link``, each module a whole number of pixels, at most :data:`QR_SIZE`.

    The mask is fixed rather than chosen by trying all eight: any mask scans, and trying them
    is most of the time a code takes (a 1,000-code batch draws in seconds instead of 15).
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2, mask_pattern=2)
    code.add_data(link)
    code.make(fit=True)
    matrix = code.get_matrix()
    side = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    scale = max(1, QR_SIZE // side)
    image = Image.frombytes("L", (side, side), pixels)
    return image.resize((side * scale, side * scale), Image.Resampling.NEAREST)
