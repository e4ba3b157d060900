"""The blind-box draw as pure math: verifiable values, fair picks, true odds, expected value.

No I/O and no clock. A draw is a function of the box's server seed (whose SHA-256 is published
before any draw it signs, and which is revealed when the box moves to a new seed) and of a
*message* that names the draw. Once the seed is revealed, anyone can recompute a past draw with
:func:`verify` and the prizes that were in the draw at that moment (the *pool*: prize ids and
weights, in prize id order).

The message, by the draw's *formula* (recorded on every draw, so old draws stay verifiable):

- formula 1 (draws made before client seeds): ``f"{member_id}:{draw_number}"``.
- formula 2 (:data:`CLIENT_SEED_FORMULA`): ``f"{client_seed}:{nonce}"``, where the client seed
  is the member's own (one they typed with ``/seed``, or a random one made for them at their
  first draw and shown on the box screen) and the nonce is the member's draw number on that box
  (1, 2, 3, ...), so no two draws of one member under one server seed share a message.

Why a member need not trust the operator: the server seed's hash is published (committed)
before the draws it signs, so the operator cannot change the seed afterwards without the
revealed seed failing to match its hash. The member's client seed goes into every draw, and a
member who sets their own after the current hash is published has chosen something the
operator could not know when it picked the seed: the operator cannot have searched for a seed
that gives that member bad draws. (A client seed the mall generated for the member protects
only as much as the member trusts that generator; the box screen says to set one's own.)
Seeds rotate on a schedule (``[boxes] seed_rotation_days``), which reveals the old one.

The steps of one draw:

1. :func:`hmac_value`: ``HMAC-SHA256(key=seed, msg=message)``, where the key is the seed's
   64 hexadecimal characters taken as ASCII text (not decoded to 32 bytes) and the message is
   the UTF-8 text above; the first 8 bytes of the digest, big-endian: a 64-bit value the server
   cannot choose after publishing the seed's hash and the member cannot predict without it.
2. :func:`choose`: the pool is every prize still in the draw; when the member's guarantee is
   due, only the rare ones among them.
3. :func:`pick`: the value lands on the cumulative weights of the pool.

:func:`python_recipe` and :func:`openssl_recipe` are one-line commands that redo step 1 (and
the scaling of step 3) outside the mall.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

VALUE_BITS = 64
VALUE_RANGE = 1 << VALUE_BITS

# Expected values are reported to this many places: a ratio of points paid per point spent.
_EV_PLACES = Decimal("0.0001")

Pool = Sequence[tuple[int, int]]
"""Prizes a value is mapped onto: ``(prize id, weight)`` pairs in prize id order."""


def seed_hash(seed: str) -> str:
    """The published commitment to a seed: the SHA-256 of its text, in lowercase hex."""
    return hashlib.sha256(seed.encode()).hexdigest()


MEMBER_FORMULA = 1
"""Draws before client seeds: the message is ``f"{member_id}:{draw_number}"``."""
CLIENT_SEED_FORMULA = 2
"""The message is ``f"{client_seed}:{nonce}"`` (nonce: the member's draw number on the box)."""
FORMULAS = (MEMBER_FORMULA, CLIENT_SEED_FORMULA)

CLIENT_SEED_MAX = 64
# Letters, digits, "_", "-" and ".": one line of text that needs no quoting in a shell recipe
# and has one UTF-8 encoding, so "what is hashed" is never in doubt.
_CLIENT_SEED = re.compile(rf"[A-Za-z0-9_.-]{{1,{CLIENT_SEED_MAX}}}")


def valid_client_seed(text: str) -> bool:
    """Whether ``text`` can be a client seed: 1 to 64 of ``A-Z a-z 0-9 _ - .``."""
    return isinstance(text, str) and _CLIENT_SEED.fullmatch(text) is not None


def new_client_seed() -> str:
    """A client seed for a member who has not set one: 16 random hex characters."""
    return secrets.token_hex(8)


def draw_message(formula: int, *, member_id: int, draw_number: int, client_seed: str | None) -> str:
    """The text a draw's HMAC signs, by its formula (see the module's docstring)."""
    if formula == MEMBER_FORMULA:
        return f"{member_id}:{draw_number}"
    if formula == CLIENT_SEED_FORMULA:
        if client_seed is None:
            raise ValueError("formula 2 needs a client seed")
        return f"{client_seed}:{draw_number}"
    raise ValueError(f"unknown draw formula {formula}")


def hmac_hex(seed: str, message: str) -> str:
    """HMAC-SHA256 with the seed's text (UTF-8) as key over the message's UTF-8, in hex."""
    return hmac.new(seed.encode(), message.encode(), hashlib.sha256).hexdigest()


def hmac_value(seed: str, message: str) -> int:
    """The draw's 64-bit value: the first 8 bytes (16 hex digits) of :func:`hmac_hex`."""
    return int(hmac_hex(seed, message)[:16], 16)


def draw_value(seed: str, member_id: int, draw_number: int) -> int:
    """A formula-1 draw's value: HMAC-SHA256(seed, f"{member_id}:{draw_number}"), 8 bytes."""
    return hmac_value(seed, f"{member_id}:{draw_number}")


def python_recipe(seed: str, message: str, total: int) -> str:
    """A shell command that prints the HMAC in hex, the draw's value and where it lands on
    ``total`` weight (``value * total >> 64``).

    Seeds are hex and messages are client-seed characters, ``:`` and digits, so both are written
    as plain ``b"..."`` literals (the bytes of the text, as the mall hashes them) inside one
    single-quoted shell word. Raises ValueError for anything else.
    """
    _recipe_safe(seed, message)
    code = (
        f'import hmac,hashlib;d=hmac.new(b"{seed}",b"{message}",hashlib.sha256).hexdigest();'
        f"v=int(d[:16],16);print(d,v,v*{int(total)}>>64)"
    )
    return f"python3 -c '{code}'"


_RECIPE_TEXT = re.compile(r"[A-Za-z0-9_.:-]+")


def _recipe_safe(seed: str, message: str) -> None:
    for text in (seed, message):
        if not _RECIPE_TEXT.fullmatch(text):
            raise ValueError(f"{text!r} cannot go into a recipe as it is")


def python_hmac_recipe(seed: str, message: str) -> str:
    """A shell command that prints HMAC-SHA256(seed, message) in hex (a flash-sale ticket)."""
    _recipe_safe(seed, message)
    code = f'import hmac,hashlib;print(hmac.new(b"{seed}",b"{message}",hashlib.sha256).hexdigest())'
    return f"python3 -c '{code}'"


def openssl_recipe(seed: str, message: str) -> str:
    """A shell command that prints the HMAC in hex: its first 16 hex digits are the value.

    ``printf %s`` adds no newline; ``-hmac`` takes the key as text, like the mall.
    """
    _recipe_safe(seed, message)
    return f"printf %s '{message}' | openssl dgst -sha256 -hmac '{seed}'"


def pick(value: int, prizes: Pool) -> int:
    """The prize id that ``value`` (0 <= value < 2**64) lands on, by weight.

    The value is scaled onto the total weight, ``point = value * total >> 64``, and the prize is
    the one whose stretch of the cumulative weights holds ``point``. Why not ``value % total``:
    both give each of the ``total`` points either floor or ceil of ``2**64 / total`` values, so
    either is off from ``weight / total`` by less than ``total / 2**64`` (below ``2**-32`` for
    any table the schema holds, invisible to any test), but scaling keeps the order: ``value /
    2**64`` *is* the roll between 0 and 1, and a reader sees where it fell on the table. No
    rejection loop is needed, so every value maps to a prize and a draw is one HMAC.

    Prizes of weight 0 are never picked. Raises ValueError for a negative weight, a pool whose
    weights sum to 0, or a value outside 64 bits.
    """
    if not 0 <= value < VALUE_RANGE:
        raise ValueError(f"value must be a 64-bit unsigned integer, got {value}")
    total = _total_weight(prizes)
    point = (value * total) >> VALUE_BITS
    running = 0
    for prize_id, weight in prizes:
        running += weight
        if point < running:
            return prize_id
    raise AssertionError("unreachable: point < total")


def odds(prizes: Pool) -> tuple[tuple[int, Fraction], ...]:
    """Each prize's exact chance in one draw from ``prizes``: weight over the total."""
    total = _total_weight(prizes)
    return tuple((prize_id, Fraction(weight, total)) for prize_id, weight in prizes)


def _total_weight(prizes: Pool) -> int:
    total = 0
    for prize_id, weight in prizes:
        if weight < 0:
            raise ValueError(f"prize {prize_id} has a negative weight {weight}")
        total += weight
    if total <= 0:
        raise ValueError("the weights sum to 0: nothing can be drawn")
    return total


@dataclass(frozen=True)
class Candidate:
    """A prize that is in the draw now: its weight, whether it is rare, and its worth in points.

    ``value`` is what the prize pays out, counted in points: a points prize's points, an item
    or coupon prize's item price, 0 for an empty consolation. It only feeds the expected value.
    """

    prize_id: int
    weight: int
    rare: bool = False
    value: int = 0


def guarantee_due(since_rare: int, pity_after: int | None) -> bool:
    """Whether the next draw must give a rare prize: ``pity_after`` draws in a row gave none.

    So a member never draws more than ``pity_after`` times in a row without a rare prize: the
    draw after that is the guaranteed one.
    """
    return pity_after is not None and since_rare >= pity_after


def draws_until_guarantee(since_rare: int, pity_after: int | None) -> int | None:
    """How many draws from now the guaranteed one is (1: the next); None without a guarantee."""
    if pity_after is None:
        return None
    return max(1, pity_after + 1 - since_rare)


@dataclass(frozen=True)
class Choice:
    """What one draw gave, and from which pool (the record that makes it verifiable)."""

    prize_id: int
    by_guarantee: bool
    # The guarantee was due but no rare prize is left in the draw: an ordinary draw was made.
    guarantee_missed: bool
    pool: tuple[tuple[int, int], ...]


def choose(
    value: int, candidates: Sequence[Candidate], since_rare: int, pity_after: int | None
) -> Choice:
    """Draw among ``candidates`` (in prize id order) with the member's guarantee applied."""
    due = guarantee_due(since_rare, pity_after)
    rare = [c for c in candidates if c.rare and c.weight > 0]
    chosen = rare if due and rare else [c for c in candidates if c.weight > 0]
    pool = tuple((c.prize_id, c.weight) for c in chosen)
    if not pool:
        raise ValueError("no prize is in the draw")
    return Choice(
        prize_id=pick(value, pool),
        by_guarantee=due and bool(rare),
        guarantee_missed=due and not rare,
        pool=pool,
    )


def expected_value(
    price: int, candidates: Sequence[Candidate], pity_after: int | None = None
) -> Decimal:
    """Points paid out per point spent, in the long run, by the table of ``candidates``.

    Above 1 the box pays members more than it costs them. With a guarantee, a member's draws
    since their last rare prize form a chain whose states ``s = 0 .. pity_after`` are
    visited in proportion to ``(1 - p) ** s`` (``p``: the chance of a rare prize in an ordinary
    draw); the last state is the guaranteed draw, which pays the rare prizes' average. So this
    is the figure for a member who keeps drawing: one who stops early gets a little less.
    """
    if price <= 0:
        raise ValueError(f"price must be positive, got {price}")
    live = [c for c in candidates if c.weight > 0]
    if not live:
        return Decimal(0)
    with localcontext() as context:
        context.prec = 40
        total = sum(c.weight for c in live)
        ordinary = Decimal(sum(c.weight * c.value for c in live)) / total
        rare = [c for c in live if c.rare]
        if pity_after is None or not rare:
            per_draw = ordinary
        else:
            rare_total = sum(c.weight for c in rare)
            guaranteed = Decimal(sum(c.weight * c.value for c in rare)) / rare_total
            # pity_after misses, then the guaranteed draw: a cycle of pity_after + 1 states.
            share = _guaranteed_share(1 - Decimal(rare_total) / total, pity_after + 1)
            per_draw = (1 - share) * ordinary + share * guaranteed
        return (per_draw / price).quantize(_EV_PLACES)


def _guaranteed_share(miss: Decimal, states: int) -> Decimal:
    """The share of draws that are guaranteed: ``miss ** (n - 1) / sum(miss ** s, s < n)``."""
    if states == 1:
        return Decimal(1)
    # The geometric sum in closed form (0 < 1 - miss since a rare prize is in the draw).
    return miss ** (states - 1) * (1 - miss) / (1 - miss**states)


def verify(
    seed: str,
    published_hash: str,
    message: str,
    pool: Pool,
    claimed_prize: int,
) -> bool:
    """Whether ``seed`` is the one whose hash was published and gives ``claimed_prize``.

    ``message`` is the draw's :func:`draw_message`; ``pool`` is the draw's record of the prizes
    (id, weight) it was made from.
    """
    if not hmac.compare_digest(seed_hash(seed).encode(), published_hash.strip().lower().encode()):
        return False
    try:
        return pick(hmac_value(seed, message), pool) == claimed_prize
    except ValueError:
        return False
