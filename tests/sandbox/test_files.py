"""Photos and documents go both ways, by upload or by file_id, and download back intact."""

from __future__ import annotations

import aiogram
import pytest
import telegram
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BufferedInputFile

from bot.sandbox import Sandbox
from tests.sandbox.conftest import png


async def test_a_photo_the_bot_uploads_shows_inline_and_downloads_back(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("my code")
    image = png(8, 5)
    sent = await ptb.send_photo(ann.id, image, caption="<b>Invite</b> QR", parse_mode="HTML")
    assert (sent.photo[-1].width, sent.photo[-1].height) == (8, 5)
    assert sent.caption == "Invite QR"
    assert (ann.last.photo, ann.last.text, ann.last.html) == (
        image,
        "Invite QR",
        "<b>Invite</b> QR",
    )

    file = await ptb.get_file(sent.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == image

    again = await ptb.send_photo(ann.id, sent.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == sent.photo[-1].file_unique_id
    assert ann.last.photo == image
    assert sandbox.violations == []


async def test_a_document_and_its_caption_can_be_edited(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("export")
    sent = await ptb.send_document(ann.id, b"code,points\nA1,10\n", filename="codes.csv")
    assert ann.last.document == ("codes.csv", b"code,points\nA1,10\n", "text/csv")
    await ptb.edit_message_caption(chat_id=ann.id, message_id=sent.message_id, caption="2 codes")
    assert (ann.last.text, ann.last.edited) == ("2 codes", True)
    with pytest.raises(telegram.error.BadRequest, match="no text in the message"):
        await ptb.edit_message_text("x", chat_id=ann.id, message_id=sent.message_id)


async def test_files_a_member_sends_reach_the_bot(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    admin = sandbox.add_user("Admin")
    admin.send_document("codes.txt", b"AAA\nBBB\n", mime_type="text/plain", caption="load")
    admin.send_photo(png(), caption="receipt")
    updates = await ptb.get_updates(timeout=0)
    document, photo = updates[0].message, updates[1].message
    assert (document.document.file_name, document.document.mime_type, document.caption) == (
        "codes.txt",
        "text/plain",
        "load",
    )
    downloaded = await (await ptb.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"AAA\nBBB\n"
    assert photo.caption == "receipt"
    assert (photo.photo[-1].width, photo.photo[-1].height) == (4, 3)


async def test_aiogram_uploads_with_attach_and_downloads(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    sent = await aio.send_document(ann.id, BufferedInputFile(b"report", "report.txt"), caption="r")
    assert sent.document is not None
    assert ann.last.document == ("report.txt", b"report", "text/plain")
    photo = await aio.send_photo(ann.id, BufferedInputFile(png(), "p.png"))
    assert photo.photo is not None
    file = await aio.get_file(photo.photo[-1].file_id)
    assert file.file_path is not None
    downloaded = await aio.download_file(file.file_path)
    assert downloaded is not None
    assert downloaded.read() == png()
    assert sandbox.violations == []


async def test_urls_and_unknown_file_ids_are_refused(sandbox: Sandbox, aio: aiogram.Bot) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await aio.send_photo(ann.id, "https://example.com/a.png")
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await aio.send_document(ann.id, "no-such-file-id")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await aio.send_photo(ann.id, BufferedInputFile(b"not an image", "x.png"))
