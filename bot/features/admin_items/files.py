"""The catalog file and coupon code files, sent as documents: checked for type and size before
they are fetched, applied all or nothing, their problems listed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.events import Upload
from bot.features.admin_forms import ANSWER_TTL
from bot.features.admin_items.buttons import CancelFile, UploadCatalog, UploadCodes
from bot.features.admin_items.cards import get_item, list_screen, show_card
from bot.features.admin_screens import admin_screen
from bot.features.admin_task_loading import load_as_admin, tasks_loaded
from bot.i18n import Html, plain
from bot.router import Router, Stale
from bot.screens import Button
from bot.turn import Turn
from core.errors import InvalidState
from core.membership.pending_inputs import JSON
from core.rewards.catalog_file import CatalogError, CatalogProblem, read_code_lines

router = Router()
CODES_KIND = "admin.item.codes"
CATALOG_KIND = "admin.catalog.file"
CATALOG_MAX_BYTES = 256 * 1024
CODES_MAX_BYTES = 512 * 1024
CODES_MAX = 10_000
PROBLEMS_SHOWN = 15
REPEATS_SHOWN = 5


# --- Files: the catalog and coupon codes ---------------------------------------------------------


def _cancel_file(turn: Turn, item_id: int | None = None) -> tuple[Button, ...]:
    data = CancelFile(item_id or 0).pack()
    return (Button(plain(turn.t("admin.items.form.cancel")), data=data),)


async def _ask_file(
    turn: Turn, kind: str, data: Mapping[str, JSON], text: Html, item_id: int | None = None
) -> None:
    await turn.mall.inputs.expect(turn.member_id, kind, data, turn.now, ANSWER_TTL)
    turn.show(admin_screen(turn, text, (_cancel_file(turn, item_id),)))


@router.button(CancelFile, admin=True)
async def cancel_file_button(turn: Turn, pressed: CancelFile) -> None:
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is not None and pending.kind in (CODES_KIND, CATALOG_KIND):
        await turn.mall.inputs.clear(turn.member_id)
    intro = turn.t("admin.items.form.cancelled")
    if pressed.item_id:
        await show_card(turn, pressed.item_id, intro)
    else:
        turn.show(await list_screen(turn, 0, intro))


@router.button(UploadCatalog, admin=True)
async def catalog_button(turn: Turn, pressed: UploadCatalog) -> None:
    text = turn.t("admin.items.catalog.ask", limit=_kb(CATALOG_MAX_BYTES))
    await _ask_file(turn, CATALOG_KIND, {}, text)


@router.upload(CATALOG_KIND, admin=True)
async def catalog_upload(turn: Turn, upload: Upload, data: Mapping[str, JSON]) -> None:
    t = turn.t
    content = await _fetch(turn, upload, (".toml",), CATALOG_MAX_BYTES)
    if content is None:
        await _ask_file(
            turn, CATALOG_KIND, {}, _refusal(turn, upload, (".toml",), CATALOG_MAX_BYTES)
        )
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await _ask_file(turn, CATALOG_KIND, {}, t("admin.items.file.not_utf8"))
        return
    try:
        report = await load_as_admin(turn, text, upload.filename)
    except CatalogError as error:
        await _ask_file(
            turn,
            CATALOG_KIND,
            {},
            _problems_text(
                turn,
                t("admin.items.catalog.invalid", count=t.number(len(error.problems))),
                error.problems,
            ),
        )
        return
    intro = t(
        "admin.items.catalog.loaded",
        created=t.number(report.items_created),
        updated=t.number(report.items_updated),
        unchanged=t.number(report.items_unchanged),
        codes=t.number(report.codes_added),
        boxes_created=t.number(report.boxes_created),
        boxes_updated=t.number(report.boxes_updated),
    )
    if report.tasks_created or report.tasks_updated:
        intro = Html("\n".join([intro, *await tasks_loaded(turn, report)]))
    if report.warnings:
        # Loaded, but some of it cannot work as written: said now, not found out by members.
        heading = t("admin.items.catalog.warnings", count=t.number(len(report.warnings)))
        intro = Html("\n".join([intro, "", *_problem_lines(turn, heading, report.warnings)]))
    turn.show(await list_screen(turn, 0, intro))


@router.button(UploadCodes, admin=True)
async def codes_button(turn: Turn, pressed: UploadCodes) -> None:
    item = await get_item(turn, pressed.item_id)
    t = turn.t
    if item.kind != "coupon":
        await show_card(turn, item.item_id, t("admin.items.codes.not_coupon", title=item.title))
        return
    text = t(
        "admin.items.codes.ask",
        title=item.title,
        limit=_kb(CODES_MAX_BYTES),
        most=t.number(CODES_MAX),
    )
    await _ask_file(turn, CODES_KIND, {"item": item.item_id}, text, item.item_id)


@router.upload(CODES_KIND, admin=True)
async def codes_upload(turn: Turn, upload: Upload, data: Mapping[str, JSON]) -> None:
    item_id = data.get("item")
    if not isinstance(item_id, int):
        raise Stale("codes question without an item")
    item = await get_item(turn, item_id)
    t = turn.t
    kinds = (".txt", ".csv")
    if item.kind != "coupon":
        await show_card(turn, item_id, t("admin.items.codes.not_coupon", title=item.title))
        return

    async def again(problem: Html) -> None:
        await _ask_file(turn, CODES_KIND, {"item": item_id}, problem, item_id)

    content = await _fetch(turn, upload, kinds, CODES_MAX_BYTES)
    if content is None:
        await again(_refusal(turn, upload, kinds, CODES_MAX_BYTES))
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await again(t("admin.items.file.not_utf8"))
        return
    lines = read_code_lines(text, first_cell=upload.filename.lower().endswith(".csv"))
    if lines.problems:
        await again(
            _problems_text(
                turn,
                t("admin.items.codes.invalid", count=t.number(len(lines.problems))),
                lines.problems,
            )
        )
        return
    if not lines.codes:
        await again(t("admin.items.codes.empty"))
        return
    if len(lines.codes) > CODES_MAX:
        await again(
            t(
                "admin.items.codes.too_many",
                count=t.number(len(lines.codes)),
                most=t.number(CODES_MAX),
            )
        )
        return
    try:
        added = await turn.mall.catalog.load_codes(
            item_id, lines.codes, actor_id=turn.sender.user_id, now=turn.now
        )
    except InvalidState:
        await show_card(turn, item_id, t("admin.items.codes.not_coupon", title=item.title))
        return
    after = (await get_item(turn, item_id)).free_codes or 0
    parts: list[str] = [
        t(
            "admin.items.codes.loaded",
            added=t.number(added),
            known=t.number(len(lines.codes) - added),
            left=t.number(after),
        )
    ]
    if lines.blank:
        parts.append(t("admin.items.codes.blank", count=t.number(lines.blank)))
    if lines.repeats:
        shown = ", ".join(lines.repeats[:REPEATS_SHOWN])
        more = len(lines.repeats) - REPEATS_SHOWN
        parts.append(
            t("admin.items.codes.repeats", count=t.number(len(lines.repeats)), codes=shown)
            + (t("admin.items.and_more", count=t.number(more)) if more > 0 else "")
        )
    await show_card(turn, item_id, Html("\n".join(parts)))


async def _fetch(turn: Turn, upload: Upload, suffixes: Sequence[str], limit: int) -> bytes | None:
    """The file's bytes if it has one of ``suffixes`` and is at most ``limit`` bytes.

    Type and size are checked before the file is fetched; a size Telegram did not say is
    checked once fetched.
    """
    if not upload.filename.lower().endswith(tuple(suffixes)) or upload.size > limit:
        return None
    content = await upload.fetch()
    return content if len(content) <= limit else None


def _refusal(turn: Turn, upload: Upload, suffixes: Sequence[str], limit: int) -> Html:
    t = turn.t
    if not upload.filename.lower().endswith(tuple(suffixes)):
        return t("admin.items.file.wrong_type", name=upload.filename, types=", ".join(suffixes))
    return t("admin.items.file.too_large", name=upload.filename, limit=_kb(limit))


def _problems_text(turn: Turn, heading: Html, problems: Sequence[CatalogProblem]) -> Html:
    lines = _problem_lines(turn, heading, problems)
    lines.append(turn.t("admin.items.nothing_changed"))
    return Html("\n".join(lines))


def _problem_lines(turn: Turn, heading: Html, problems: Sequence[CatalogProblem]) -> list[str]:
    """``heading``, then the first problems (or warnings) each where it is, and how many more."""
    t = turn.t
    lines: list[str] = [heading]
    for problem in problems[:PROBLEMS_SHOWN]:
        message = f"{problem.where}: {problem.message}" if problem.where else problem.message
        if problem.line:
            lines.append(t("admin.items.problem.line", line=problem.line, message=message))
        else:
            lines.append(t("admin.items.problem", message=message))
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(t("admin.items.and_more", count=t.number(len(problems) - PROBLEMS_SHOWN)))
    return lines


def _kb(limit: int) -> str:
    return f"{limit // 1024} KB"
