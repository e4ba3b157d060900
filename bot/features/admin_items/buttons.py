"""The item screens' callback data: one class per route, shared by the list, the card, the
form, the files and the shelves, which link to each other's screens."""

from __future__ import annotations

from typing import Annotated

from bot.callback_data import CallbackData, Id, Ints, Page
from bot.features.admin_forms import FormPress

LIST_ROUTE = "ait"
CARD_ROUTE = "aiv"
NEW_ROUTE = "ain"
EDIT_ROUTE = "aie"
EDIT_FIELD_ROUTE = "aid"
RESTOCK_ROUTE = "air"
DEACTIVATE_ROUTE = "aio"
DEACTIVATE_CONFIRM_ROUTE = "aik"
PRIZE_ONLY_ROUTE = "aip"
REACTIVATE_ROUTE = "aia"
CODES_ROUTE = "aic"
CATALOG_ROUTE = "aiu"
CANCEL_FILE_ROUTE = "aix"
FORM_ROUTE = "aif"
SHELVES_ROUTE = "ais"
SHELF_ROUTE = "aih"
SHELF_FORM_ROUTE = "aig"
# More shelves, and more editable fields, than a mall has.
MAX_SHELVES = 1_000
MAX_FIELDS = 100


class AdminItems(CallbackData, route=LIST_ROUTE):
    """A page of every item, on the shelf or not."""

    page: Page = 0


class AdminItemCard(CallbackData, route=CARD_ROUTE):
    """One item's card for the admin."""

    item_id: Id


class NewItem(CallbackData, route=NEW_ROUTE):
    """The form of a new item."""


class PickField(CallbackData, route=EDIT_ROUTE):
    """Which field of an item to change."""

    item_id: Id


class EditField(CallbackData, route=EDIT_FIELD_ROUTE):
    """Change one field (``field``: its place in EDIT_FIELDS) of an item."""

    item_id: Id
    field: Annotated[int, Ints(0, MAX_FIELDS - 1)]


class Restock(CallbackData, route=RESTOCK_ROUTE):
    """Add stock to an item (asks how much)."""

    item_id: Id


class AskDeactivate(CallbackData, route=DEACTIVATE_ROUTE):
    """Switch an item off? (asks first, offering "prize only")."""

    item_id: Id


class Deactivate(CallbackData, route=DEACTIVATE_CONFIRM_ROUTE):
    """Yes, switch it off."""

    item_id: Id


class PrizeOnly(CallbackData, route=PRIZE_ONLY_ROUTE):
    """Take an item off the shelf, keeping it in its blind boxes."""

    item_id: Id


class Reactivate(CallbackData, route=REACTIVATE_ROUTE):
    """Switch an item on again."""

    item_id: Id


class UploadCodes(CallbackData, route=CODES_ROUTE):
    """Upload a coupon's codes (asks for the file)."""

    item_id: Id


class UploadCatalog(CallbackData, route=CATALOG_ROUTE):
    """Upload the catalog file (asks for it)."""


class CancelFile(CallbackData, route=CANCEL_FILE_ROUTE):
    """Drop the file question: back to the item (``item_id``) or the list (0)."""

    item_id: Id = 0


class ItemForm(FormPress, route=FORM_ROUTE):
    """A button of the item form."""


class AdminShelves(CallbackData, route=SHELVES_ROUTE):
    """Every shelf with its names in other languages."""


class AdminShelf(CallbackData, route=SHELF_ROUTE):
    """One shelf's names (``index``: its place in the list; a name is too long for a button)."""

    index: Annotated[int, Ints(0, MAX_SHELVES - 1)]


class ShelfForm(FormPress, route=SHELF_FORM_ROUTE):
    """A button of the shelf names form."""
