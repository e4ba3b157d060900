"""Facts about uploaded files that Telegram works out itself: image size, MIME type."""

from __future__ import annotations

import io
import mimetypes


def image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of an image Telegram could process, else None."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            return int(image.width), int(image.height)
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def image_mime_type(content: bytes) -> str:
    """The MIME type of image bytes (Telegram would have re-encoded them as JPEG)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            return Image.MIME.get(image.format or "", "image/jpeg")
    except (UnidentifiedImageError, OSError, ValueError):
        return "application/octet-stream"


def mime_type_of(file_name: str, declared: str | None = None) -> str:
    """The declared type unless it says nothing, else a guess from the file name."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(file_name)
    return guessed or "application/octet-stream"
