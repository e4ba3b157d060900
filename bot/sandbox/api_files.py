"""Bot API methods with files: sendPhoto, sendDocument, getFile."""

from __future__ import annotations

from typing import Any

from bot.sandbox.api_messages import keep_reply_keyboard
from bot.sandbox.chat_rules import (
    chat_of,
    checked_caption,
    ensure_can_write,
    reply_markup,
    throttle,
)
from bot.sandbox.dispatch import method
from bot.sandbox.errors import bad_request
from bot.sandbox.media import image_size, mime_type_of
from bot.sandbox.messages import StoredFile
from bot.sandbox.params import Params, Upload
from bot.sandbox.users import photo_size
from bot.sandbox.world import World

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files on the public Bot API


def _input_file(world: World, params: Params, field: str) -> StoredFile:
    """An uploaded file, or one sent before (by file_id); URLs fail, there is no network."""
    value = params.file(field)
    kind = "photo" if field == "photo" else "document"
    if value is None:
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(value, Upload):
        if not value.content:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            size = image_size(value.content)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            return world.store_file(value.content, value.filename, "image/jpeg", "photos", *size)
        mime = mime_type_of(value.filename, value.content_type)
        return world.store_file(value.content, value.filename, mime, "documents")
    if value.startswith(("http://", "https://")):
        raise bad_request("failed to get HTTP URL content")
    stored = world.files.get(value)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    is_photo = stored.file_path.startswith("photos/")
    if kind == "photo" and not is_photo:
        raise bad_request("can't use file of type Document as Photo")
    return stored


@method("sendPhoto")
async def send_photo(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    caption = checked_caption(world, params)
    markup = reply_markup(params)
    stored = _input_file(world, params, "photo")
    ensure_can_write(user)
    throttle(world, "sendPhoto", user.id)
    message = user.new_message(from_bot=True, photo=stored.content)
    message.raw["photo"] = [
        photo_size(
            stored.file_id, stored.file_unique_id, (stored.width, stored.height), stored.size
        )
    ]
    world.set_content(message, *caption, markup)
    keep_reply_keyboard(user, markup)
    world.changed(user.id)
    return world.message_object(user, message)


@method("sendDocument")
async def send_document(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    caption = checked_caption(world, params)
    markup = reply_markup(params)
    stored = _input_file(world, params, "document")
    ensure_can_write(user)
    throttle(world, "sendDocument", user.id)
    message = user.new_message(
        from_bot=True, document=(stored.file_name, stored.content, stored.mime_type)
    )
    message.raw["document"] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_name": stored.file_name,
        "mime_type": stored.mime_type,
        "file_size": stored.size,
    }
    world.set_content(message, *caption, markup)
    keep_reply_keyboard(user, markup)
    world.changed(user.id)
    return world.message_object(user, message)


@method("getFile")
async def get_file(world: World, params: Params) -> Any:
    stored = world.files.get(params.string("file_id") or "")
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.size > MAX_DOWNLOAD:
        raise bad_request("file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": stored.file_path,
    }
