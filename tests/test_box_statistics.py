"""The blind-box draw math, without a database: it is the math that must be fair.

Unit tests of :mod:`core.games.box_draws` first, then the statistics: 100,000 draws match the
disclosed odds (a chi-square test), and many members drawing never go more than ``pity_after``
draws without a rare prize.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.games.box_draws import (
    VALUE_RANGE,
    Candidate,
    choose,
    draw_value,
    draws_until_guarantee,
    expected_value,
    guarantee_due,
    odds,
    pick,
    seed_hash,
    verify,
)

SEED = "5f1c0a4e8b9d2f7360a1c4e7b8d9f0a2c3e5f7091b2d4f6a8c0e1f3a5b7d9e1f"


# --- The value of a draw -----------------------------------------------------------------------


def test_the_published_hash_is_the_sha256_of_the_seed():
    assert seed_hash(SEED) == hashlib.sha256(SEED.encode()).hexdigest()
    assert len(seed_hash(SEED)) == 64


def test_a_draw_value_is_the_hmac_of_member_and_draw_number():
    digest = hmac.new(SEED.encode(), b"1001:7", hashlib.sha256).digest()
    assert draw_value(SEED, 1001, 7) == int.from_bytes(digest[:8], "big")
    # Frozen: a change to the formula would make every published draw unverifiable.
    assert draw_value("seed", 1, 1) == 0x642C156FDBF543E9
    assert draw_value("0" * 64, 42, 1) == 0x2BB46DF4D03A708A


def test_each_member_and_draw_number_gets_its_own_value():
    values = {draw_value(SEED, member, n) for member in range(1, 50) for n in range(1, 50)}
    assert len(values) == 49 * 49
    assert all(0 <= value < VALUE_RANGE for value in values)
    assert draw_value(SEED, 12, 3) != draw_value(SEED, 123, 0)  # "12:3" is not "123:0"


# --- Picking by weight -------------------------------------------------------------------------


def test_the_value_is_the_roll_read_off_the_cumulative_weights():
    table = [(1, 1), (2, 1)]
    assert pick(0, table) == 1
    assert pick(VALUE_RANGE // 2 - 1, table) == 1
    assert pick(VALUE_RANGE // 2, table) == 2
    assert pick(VALUE_RANGE - 1, table) == 2


def test_a_prize_of_weight_zero_is_never_picked():
    table = [(1, 3), (2, 0), (3, 1)]
    boundary = 3 * VALUE_RANGE // 4
    assert pick(boundary - 1, table) == 1
    assert pick(boundary, table) == 3
    assert pick(VALUE_RANGE - 1, [(1, 1), (2, 0)]) == 1


@pytest.mark.parametrize(
    ("value", "table"),
    [
        (0, []),
        (0, [(1, 0), (2, 0)]),
        (0, [(1, 5), (2, -1)]),
        (-1, [(1, 1)]),
        (VALUE_RANGE, [(1, 1)]),
    ],
)
def test_impossible_picks_are_refused(value: int, table: list[tuple[int, int]]):
    with pytest.raises(ValueError, match=r"weight|64-bit"):
        pick(value, table)


@given(weights=st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=1, max_size=12))
def test_each_prize_owns_a_stretch_of_values_as_long_as_its_weight_says(weights: list[int]):
    """Prize i is picked exactly for values in [ceil(C(i-1) * 2**64 / T), ceil(C(i) * 2**64 / T)),
    C being the cumulative weights: its share of all values is its weight / T, to 1 value."""
    total = sum(weights)
    if total == 0:
        return
    table = list(enumerate(weights, start=1))
    cumulative = 0
    for prize_id, weight in table:
        first = -(-cumulative * VALUE_RANGE // total)
        cumulative += weight
        end = -(-cumulative * VALUE_RANGE // total)
        exact = Fraction(weight * VALUE_RANGE, total)
        assert abs((end - first) - exact) < 1
        if end > first:
            assert pick(first, table) == prize_id
            assert pick(end - 1, table) == prize_id


def test_the_odds_are_exact_and_sum_to_one():
    chances = odds([(1, 600), (2, 300), (3, 99), (4, 1)])
    assert chances == (
        (1, Fraction(3, 5)),
        (2, Fraction(3, 10)),
        (3, Fraction(99, 1000)),
        (4, Fraction(1, 1000)),
    )
    assert sum(chance for _, chance in chances) == 1


# --- The guarantee -----------------------------------------------------------------------------


def test_after_pity_after_draws_without_a_rare_prize_the_next_gives_one():
    assert [guarantee_due(since, 10) for since in (0, 9, 10, 12)] == [False, False, True, True]
    assert not guarantee_due(1000, None)
    assert [draws_until_guarantee(since, 10) for since in (0, 3, 10)] == [11, 8, 1]
    assert draws_until_guarantee(4, None) is None


def test_a_due_guarantee_draws_among_the_rare_prizes_only():
    prizes = [Candidate(1, 990), Candidate(2, 9, rare=True), Candidate(3, 1, rare=True)]
    ordinary = choose(0, prizes, since_rare=0, pity_after=10)
    assert (ordinary.prize_id, ordinary.by_guarantee) == (1, False)
    assert ordinary.pool == ((1, 990), (2, 9), (3, 1))
    guaranteed = choose(0, prizes, since_rare=10, pity_after=10)
    assert (guaranteed.prize_id, guaranteed.by_guarantee) == (2, True)
    assert guaranteed.pool == ((2, 9), (3, 1))
    assert choose(VALUE_RANGE - 1, prizes, since_rare=9, pity_after=10).prize_id == 3


def test_a_guarantee_with_no_rare_prize_left_is_an_ordinary_draw_and_says_so():
    choice = choose(0, [Candidate(1, 5), Candidate(2, 0, rare=True)], since_rare=10, pity_after=10)
    assert (choice.prize_id, choice.by_guarantee, choice.guarantee_missed) == (1, False, True)
    assert choice.pool == ((1, 5),)


# --- Expected value ----------------------------------------------------------------------------


def test_the_expected_value_is_points_paid_per_point_spent():
    prizes = [Candidate(1, 50, value=10), Candidate(2, 40, value=100), Candidate(3, 10, value=500)]
    # (0.5 * 10 + 0.4 * 100 + 0.1 * 500) / 100 = 0.95
    assert expected_value(100, prizes) == Decimal("0.9500")
    assert expected_value(50, prizes) == Decimal("1.9000")
    assert expected_value(100, [Candidate(1, 0, value=10)]) == Decimal(0)


def test_the_guarantee_raises_the_expected_value_as_its_markov_chain_says():
    prizes = [Candidate(1, 9, value=10), Candidate(2, 1, rare=True, value=1000)]
    ordinary = Fraction(9 * 10 + 1 * 1000, 10)

    def by_hand(pity_after: int) -> Decimal:
        # p = 1/10: after s misses the chain is in state s, visited as 0.9 ** s; after
        # pity_after misses (state pity_after) the draw is guaranteed.
        weights = [Fraction(9, 10) ** s for s in range(pity_after + 1)]
        share = weights[-1] / sum(weights)
        per_draw = (1 - share) * ordinary + share * 1000
        expected = Decimal(per_draw.numerator) / Decimal(per_draw.denominator) / 100
        return expected.quantize(Decimal("0.0001"))

    assert expected_value(100, prizes, pity_after=3) == by_hand(3)
    assert expected_value(100, prizes, pity_after=1) == by_hand(1)
    assert expected_value(100, prizes, pity_after=10_000) == Decimal("1.0900")


# --- Verifying ---------------------------------------------------------------------------------


def test_a_draw_verifies_with_its_seed_and_a_tampered_claim_does_not():
    pool = [(11, 700), (12, 250), (13, 50)]
    won = pick(draw_value(SEED, 1001, 4), pool)
    assert verify(SEED, seed_hash(SEED), "1001:4", pool, won)
    assert verify(SEED, seed_hash(SEED).upper(), "1001:4", pool, won)
    for other in {11, 12, 13} - {won}:
        assert not verify(SEED, seed_hash(SEED), "1001:4", pool, other)
    assert not verify("another seed", seed_hash(SEED), "1001:4", pool, won)
    assert not verify(SEED, seed_hash("another seed"), "1001:4", pool, won)
    assert not verify(SEED, seed_hash(SEED), "1001:4", [], won)


# --- Statistics --------------------------------------------------------------------------------

# The chi-square distribution's critical values at p = 0.001, by degrees of freedom.
CHI_SQUARE_0_001 = {4: 18.467, 5: 20.515}


def _chi_square(observed: Counter[int], chances: tuple[tuple[int, Fraction], ...], n: int) -> float:
    return sum(
        (observed[prize] - n * float(chance)) ** 2 / (n * float(chance))
        for prize, chance in chances
    )


@pytest.mark.parametrize(
    "table",
    [
        [(1, 500), (2, 300), (3, 150), (4, 45), (5, 5)],
        # A table whose total is no power of two, with one prize worn down to a sliver.
        [(7, 333_333), (8, 333_333), (9, 200_001), (10, 100_000), (11, 30_000), (12, 3_333)],
    ],
)
def test_100_000_draws_match_the_disclosed_odds(table: list[tuple[int, int]]):
    chances = odds(table)
    observed: Counter[int] = Counter(
        pick(draw_value(SEED, member, number), table)
        for member in range(1, 1001)
        for number in range(1, 101)
    )
    statistic = _chi_square(observed, chances, 100_000)
    assert statistic < CHI_SQUARE_0_001[len(table) - 1], (statistic, observed)


def test_many_members_never_go_more_than_pity_after_draws_without_a_rare_prize():
    pity_after = 10
    prizes = [
        Candidate(1, 880, value=5),
        Candidate(2, 100, value=20),
        Candidate(3, 15, rare=True, value=300),
        Candidate(4, 5, rare=True, value=1000),
    ]
    longest, guaranteed, paid, draws = 0, 0, 0, 0
    value_of = {c.prize_id: c.value for c in prizes}
    rare = {c.prize_id for c in prizes if c.rare}
    # Long runs per member: the long-run expected value is for members who keep drawing.
    for member in range(1, 201):
        since_rare = 0
        for number in range(1, 601):
            choice = choose(draw_value(SEED, member, number), prizes, since_rare, pity_after)
            guaranteed += choice.by_guarantee
            paid += value_of[choice.prize_id]
            draws += 1
            since_rare = 0 if choice.prize_id in rare else since_rare + 1
            longest = max(longest, since_rare)
    # At most pity_after misses in a row: the draw after them is always rare.
    assert longest == pity_after
    assert guaranteed > 0
    # The long-run expected value (guarantee included) is what the members got, to 3%.
    theory = expected_value(100, prizes, pity_after)
    assert abs(Decimal(paid) / (100 * draws) - theory) < Decimal("0.03") * theory
