"""Running the catalog from the chat: items, their edits and stock, coupon codes, the catalog file.

The Items section (``ait``) lists every item, on the shelf or not; an item's card (``aiv``) has
Edit, Restock, Deactivate (or Reactivate) and, for coupons, Upload codes. An item is on the shelf
(``listed``), a prize only (off the shelf, still given by blind boxes: the Shelf edit), or
switched off (``active`` false: off the shelf *and* out of every blind box), which the
Deactivate confirmation says, offering "prize only" instead. "Add item" is a guided
conversation (:mod:`bot.features.admin_forms`) asking one thing at a time; an edit asks the one
field picked. Each answer is checked against the item's other answers as it is given (a price of
0 needs a cash part, a cash part excludes an approval threshold, the end follows the start), so
the rule is told at that question; the summary before Save asks any answer again, and a Save the
catalog still refuses (a SKU taken meanwhile) shows why above the summary, the draft kept.

The catalog file (the TOML of ``pointsmall catalog load``) and coupon code files are sent as
documents, checked for type and size before they are fetched, and applied all or nothing; a
catalog that loads but cannot work as written (a box's prize that can never be drawn...) is
loaded with its warnings shown. Every change is written to the audit log.

An uploaded photo is kept as its Telegram file id: every bot process shows it again by that id,
with nothing stored on any machine's disk.

The package is one feature in parts: ``cards`` (the list, the card, switching off and on),
``form`` (the guided form), ``files`` (the catalog and code files), ``shelves`` (shelf names in
other languages), with their callback data in ``buttons`` and an item's fields as shown and kept
in ``fields``. Its router gathers the parts' routers.
"""

from __future__ import annotations

from bot.features.admin_items import cards, files, form, shelves
from bot.router import Router

router = Router()
for part in (cards, form, files, shelves):
    router.include(part.router)
