"""Client seeds, draw formulas, scheduled seed rotation and the recipes that redo a draw, on both
databases (issue 15: members can check draws without trusting the mall)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db.models import BoxDraw
from core.games import box_draws
from core.games.blind_boxes import NOT_YET_REVEALED, VERIFIED
from core.games.box_authoring import PrizeSpec
from core.games.box_seeds import BadClientSeed
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.test_blind_boxes import ALICE, BOB, FIRST_SEED, blind_boxes

NOW = at("2026-03-01 10:00")
CONFIG = "[members]\nsignup_bonus = 100000\n[boxes]\nseed_rotation_days = 7"
PRIZES = [
    PrizeSpec("Small", "points", 70, points=1),
    PrizeSpec("Medium", "points", 25, points=10),
    PrizeSpec("Large", "points", 5, points=100),
]


@pytest.fixture
async def rich_mall(make_mall: MallFactory) -> Mall:
    mall = await make_mall(make_config(CONFIG))
    await mall.members.join(ALICE, "Alice", "en", NOW)
    await mall.members.join(BOB, "Bob", "en", NOW)
    return mall


async def test_a_member_gets_a_random_client_seed_at_their_first_draw_and_can_set_their_own(
    rich_mall: Mall,
):
    boxes = blind_boxes(rich_mall)
    box = await boxes.create_box("proof", "Proof box", 10, PRIZES, NOW)
    assert await boxes.client_seed(ALICE) is None
    assert (await boxes.describe(box.box_id, ALICE, NOW)).client_seed is None

    first = await boxes.open(ALICE, box.box_id, "k-1", NOW)
    made = await boxes.client_seed(ALICE)
    assert made is not None
    assert not made.chosen
    assert box_draws.valid_client_seed(made.client_seed)
    assert (first.formula, first.client_seed) == (2, made.client_seed)
    assert first.value == box_draws.hmac_value(FIRST_SEED, f"{made.client_seed}:1")

    later = NOW + timedelta(minutes=5)
    mine = await boxes.set_client_seed(ALICE, "my-lucky.seed_42", later)
    assert (mine.client_seed, mine.chosen, mine.updated_at) == ("my-lucky.seed_42", True, later)
    view = await boxes.describe(box.box_id, ALICE, later)
    assert view.client_seed == mine
    second = await boxes.open(ALICE, box.box_id, "k-2", later)
    # The nonce is the member's draw number on the box: it goes on counting.
    assert second.client_seed == "my-lucky.seed_42"
    assert second.value == box_draws.hmac_value(FIRST_SEED, "my-lucky.seed_42:2")
    # Bob's seed is his own; Alice's replayed draw is the first result.
    assert await boxes.client_seed(BOB) is None
    assert (await boxes.open(ALICE, box.box_id, "k-1", later)).client_seed == made.client_seed

    for bad in ("", "a" * 65, "has space", "引号", "a:b", "semi;colon", "x\n"):
        with pytest.raises(BadClientSeed) as refused:
            await boxes.set_client_seed(ALICE, bad, later)
        assert refused.value.code == "invalid_input"
        assert refused.value.details["field"] == "client_seed"
    assert (await boxes.client_seed(ALICE)) == mine


async def test_draws_of_both_formulas_verify_with_the_text_they_hashed(rich_mall: Mall):
    boxes = blind_boxes(rich_mall)
    box = await boxes.create_box("proof", "Proof box", 10, PRIZES, NOW)
    await boxes.set_client_seed(ALICE, "abc", NOW)
    draws = [await boxes.open(ALICE, box.box_id, f"k-{n}", NOW) for n in range(4)]
    pending = await boxes.verify_draw(draws[0].draw_id)
    assert (pending.status, pending.message, pending.digest) == (NOT_YET_REVEALED, "abc:1", None)
    assert pending.seed_rotates_at == NOW + timedelta(days=7)

    # A draw from before client seeds (formula 1) signed "member_id:draw_number".
    async with rich_mall.db.write() as conn:
        await conn.execute(
            update(BoxDraw)
            .where(BoxDraw.id == draws[3].draw_id)
            .values(formula=1, client_seed=None)
        )
    await boxes.rotate_seed(box.box_id, NOW + timedelta(days=1))
    for draw in draws[:3]:
        checked = await boxes.verify_draw(draw.draw_id)
        assert checked.status == VERIFIED
        assert checked.message == f"abc:{draw.draw_number}"
        assert checked.digest == box_draws.hmac_hex(FIRST_SEED, checked.message)
        assert checked.value == draw.value == int(checked.digest[:16], 16)
    old = await boxes.verify_draw(draws[3].draw_id)
    assert (old.formula, old.client_seed, old.message) == (1, None, f"{ALICE}:4")
    assert old.value == box_draws.draw_value(FIRST_SEED, ALICE, 4)
    # Its prize came from the formula-2 value, so formula 1 gives it only by chance.
    expected = box_draws.pick(old.value, [(p.prize_id, p.weight) for p in old.pool])
    assert old.recomputed_prize_id == expected


async def test_seeds_rotate_on_schedule_and_the_box_screen_shows_the_revealed_one(
    rich_mall: Mall,
):
    boxes = blind_boxes(rich_mall)
    box = await boxes.create_box("proof", "Proof box", 10, PRIZES, NOW)
    view = await boxes.describe(box.box_id, ALICE, NOW)
    assert (view.seed_created_at, view.seed_rotates_at, view.revealed) == (
        NOW,
        NOW + timedelta(days=7),
        None,
    )
    assert await boxes.rotate_due(NOW + timedelta(days=7) - timedelta(seconds=1)) == ()
    due = NOW + timedelta(days=7)
    (rotation,) = await boxes.rotate_due(due)
    assert (rotation.box_id, rotation.revealed_seed, rotation.new_version) == (
        box.box_id,
        FIRST_SEED,
        2,
    )
    assert await boxes.rotate_due(due) == ()  # a second run rotates nothing
    view = await boxes.describe(box.box_id, ALICE, due)
    assert view.revealed is not None
    assert (view.revealed.version, view.revealed.seed) == (1, FIRST_SEED)
    assert (view.revealed.created_at, view.revealed.revealed_at) == (NOW, due)
    assert (view.seed_version, view.seed_created_at) == (2, due)
    assert view.seed_rotates_at == due + timedelta(days=7)


async def test_no_schedule_no_rotation(make_mall: MallFactory):
    mall = await make_mall(make_config("[boxes]\nseed_rotation_days = 0"))
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box("proof", "Proof box", 10, PRIZES, NOW)
    assert await boxes.rotate_due(NOW + timedelta(days=400)) == ()
    assert (await boxes.describe(box.box_id, ALICE, NOW)).seed_rotates_at is None


# --- The recipes, run -------------------------------------------------------------------------

SEED = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.mark.parametrize("message", ["abc:1", "my-lucky.seed_42:17", "1001:4"])
def test_the_python_recipe_prints_the_digest_the_value_and_the_point(message: str) -> None:
    recipe = box_draws.python_recipe(SEED, message, 100)
    assert recipe.startswith("python3 -c ")
    program, flag, code = shlex.split(recipe)
    assert (program, flag) == ("python3", "-c")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    value = box_draws.hmac_value(SEED, message)
    assert out == [box_draws.hmac_hex(SEED, message), str(value), str(value * 100 >> 64)]
    # Through a shell, as a member would paste it.
    shell = subprocess.run(
        recipe.replace("python3", sys.executable, 1),
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.split() == out


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl here")
@pytest.mark.parametrize("message", ["abc:1", "my-lucky.seed_42:17", "1001:4"])
def test_the_openssl_recipe_prints_the_digest(message: str) -> None:
    out = subprocess.run(
        box_draws.openssl_recipe(SEED, message),
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # "HMAC-SHA2-256(stdin)= <hex>" (or "(stdin)= <hex>" on older openssl).
    assert out.split()[-1] == box_draws.hmac_hex(SEED, message)


def test_recipes_refuse_text_that_would_need_quoting() -> None:
    for seed, message in ((SEED, "a'b:1"), ("x y", "abc:1"), (SEED, "")):
        with pytest.raises(ValueError, match="cannot go into a recipe"):
            box_draws.python_recipe(seed, message, 10)
        with pytest.raises(ValueError, match="cannot go into a recipe"):
            box_draws.openssl_recipe(seed, message)


# --- The schedule's setting and its job ------------------------------------------------------


@pytest.mark.parametrize("value", ["-1", "367", '"7"', "1.5"])
def test_a_bad_rotation_schedule_names_its_key(value: str) -> None:
    from tests.test_config import problems

    assert "boxes.seed_rotation_days" in problems(f"[boxes]\nseed_rotation_days = {value}\n")


async def test_the_seeds_job_rotates_what_is_due_once(rich_mall: Mall) -> None:
    from core.operations.jobs import Jobs
    from tests.test_jobs import Words

    box = await rich_mall.boxes.create_box("proof", "Proof box", 10, PRIZES, NOW)
    jobs = Jobs(rich_mall, Words())
    assert (await jobs.seeds(NOW + timedelta(days=6))).changed == 0
    assert (await jobs.seeds(NOW + timedelta(days=7))).changed == 1
    assert (await jobs.seeds(NOW + timedelta(days=7))).changed == 0
    view = await rich_mall.boxes.describe(box.box_id, ALICE, NOW + timedelta(days=7))
    assert view.seed_version == 2
    assert view.revealed is not None
    assert view.revealed.seed_hash == box.seed_hash


# --- Flash-sale entry draws: commit-reveal ----------------------------------------------------


async def test_a_sale_draw_commits_to_its_seed_and_each_entrant_can_redo_their_ticket(
    mall: Mall,
) -> None:
    import hashlib
    import random

    from core.errors import UnknownSale
    from core.rewards.flash_sales import FlashSales
    from tests.test_flash_sales import END, ENTRIES_CLOSE, START, add_item, join_all

    members = range(8000, 8006)
    await join_all(mall, members)
    mug = await add_item(mall, kind="physical", stock=10)
    seed = hashlib.sha256(b"sale seed").hexdigest()
    sales = FlashSales(mall.db, mall.config, seed_source=lambda: seed)
    sale = await sales.create_sale(
        mug, 60, 2, START, END, "draw", ENTRIES_CLOSE, now=at("2026-03-05 09:00")
    )
    assert (sale.draw_seed_hash, sale.draw_seed) == (box_draws.seed_hash(seed), None)
    await mall.boxes.set_client_seed(8000, "mine-8000", at("2026-03-06 20:01"))
    for member_id in members:
        await sales.enter(sale.sale_id, member_id, at("2026-03-06 20:05"))
    before = await sales.verify_draw(sale.sale_id, 8000)
    assert (before.seed, before.ticket, before.message) == (
        None,
        None,
        f"mine-8000:{sale.sale_id}",
    )
    assert before.seed_hash == box_draws.seed_hash(seed)

    result = await sales.draw(sale.sale_id, ENTRIES_CLOSE, random.Random(1))
    view = await sales.get_sale(sale.sale_id, ENTRIES_CLOSE)
    assert view.draw_seed == seed
    winners = {w.member_id for w in result.winners}
    assert len(winners) == 2
    for member_id in members:
        check = await sales.verify_draw(sale.sale_id, member_id)
        client = await mall.boxes.client_seed(member_id)
        assert client is not None
        assert check.client_seed == client.client_seed
        assert check.ticket == box_draws.hmac_hex(seed, f"{client.client_seed}:{sale.sale_id}")
        assert check.rank is not None
        assert check.won == (member_id in winners) == (check.rank <= check.winning)
        assert check.entrants == 6
        assert list(check.tickets) == sorted(check.tickets)
    with pytest.raises(UnknownSale):
        await sales.verify_draw(sale.sale_id, 9999)


async def test_a_client_seed_is_in_the_export_and_forgotten_on_erasure(rich_mall: Mall) -> None:
    from sqlalchemy import func, select

    from core.db.models import ClientSeed

    await rich_mall.boxes.set_client_seed(ALICE, "alice-typed-this", NOW)
    exported = await rich_mall.privacy.export(ALICE, NOW)
    assert [row["client_seed"] for row in exported["client_seed"]] == ["alice-typed-this"]
    await rich_mall.privacy.erase(ALICE, NOW)
    async with rich_mall.db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(ClientSeed))).scalar_one()
    assert left == 0
