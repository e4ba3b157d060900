"""The admins' ``/stats`` chart: a PNG of the mall's days, drawn with matplotlib's Agg renderer.

Drawing is plain CPU work that takes a few hundred milliseconds: call :func:`daily_chart` in a
worker thread (``asyncio.to_thread``). It uses matplotlib's object API (``Figure`` and the Agg
canvas), never ``pyplot``, whose global state is not safe across threads.

Labels come in the admin's language; if no installed font can draw them (Chinese on a server
without a CJK font), the next set of labels given (English) is used instead of empty boxes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from core.reporting.reports import DayFigures

SIZE_INCHES = (10.0, 7.0)
DPI = 100
# Fonts with Chinese glyphs that matplotlib may find installed, in order of preference.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
POINT_SERIES = ("issued", "redeemed", "expired")
MEMBER_SERIES = ("checkins", "active_members")


@dataclass(frozen=True)
class ChartLabels:
    """The chart's texts in one language."""

    points_title: str
    members_title: str
    issued: str
    redeemed: str
    expired: str
    checkins: str
    active_members: str

    def texts(self) -> tuple[str, ...]:
        return (
            self.points_title,
            self.members_title,
            self.issued,
            self.redeemed,
            self.expired,
            self.checkins,
            self.active_members,
        )


@dataclass(frozen=True)
class DailyChart:
    """The PNG, and the numbers it plots, series by series, one per day in ``days``."""

    png: bytes
    days: tuple[str, ...]
    series: Mapping[str, tuple[int, ...]]


def daily_chart(figures: Sequence[DayFigures], labels: Sequence[ChartLabels]) -> DailyChart:
    """Two panels: points issued, redeemed and expired per day; check-ins and active members."""
    if not figures or not labels:
        raise ValueError("a chart needs days and labels")
    words = next((choice for choice in labels if _drawable(choice.texts())), labels[-1])
    days = tuple(day.day.strftime("%m-%d") for day in figures)
    series = {
        name: tuple(int(getattr(day, name)) for day in figures)
        for name in (*POINT_SERIES, *MEMBER_SERIES)
    }
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    fonts = _font_families()
    points, members = figure.subplots(2, 1, sharex=True)
    positions = range(len(days))
    for name, colour in zip(POINT_SERIES, ("#2e7d32", "#1565c0", "#c62828"), strict=True):
        points.plot(
            positions,
            series[name],
            marker="o",
            markersize=3,
            color=colour,
            label=getattr(words, name),
        )
    points.set_title(words.points_title, fontfamily=fonts)
    members.bar(positions, series["checkins"], color="#ffb300", label=words.checkins)
    members.plot(
        positions,
        series["active_members"],
        marker="o",
        markersize=3,
        color="#6a1b9a",
        label=words.active_members,
    )
    members.set_title(words.members_title, fontfamily=fonts)
    for axes in (points, members):
        axes.legend(loc="upper left", prop={"family": fonts})
        axes.grid(axis="y", alpha=0.3)
        axes.yaxis.get_major_locator().set_params(integer=True)
    step = max(1, len(days) // 10)
    members.set_xticks(list(positions)[::step], days[::step])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return DailyChart(buffer.getvalue(), days, series)


@cache
def _font_families() -> list[str]:
    """DejaVu Sans (matplotlib's own) and any CJK font installed: glyphs fall back in order."""
    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return ["DejaVu Sans", *(name for name in _CJK_FONTS if name in installed)]


@cache
def _charmap() -> frozenset[int]:
    codes: set[int] = set()
    for family in _font_families():
        path = font_manager.findfont(font_manager.FontProperties(family=family))
        codes |= set(FT2Font(path).get_charmap())
    return frozenset(codes)


def _drawable(texts: Sequence[str]) -> bool:
    charmap = _charmap()
    return all(ord(char) in charmap for text in texts for char in text if not char.isspace())


def poll_chart(question: str, options: Sequence[tuple[str, int]]) -> bytes:
    """A survey's or quiz's answers: one horizontal bar per option, its votes written beside it.

    Texts no installed font can draw (Chinese on a server without a CJK font) are drawn as
    their option numbers instead of empty boxes; the CSV beside the chart keeps the words.
    """
    if not options:
        raise ValueError("a poll chart needs options")
    texts = (question, *(text for text, _ in options))
    drawable = _drawable(texts)
    labels = [text if drawable else f"#{n}" for n, (text, _) in enumerate(options, 1)]
    votes = [count for _, count in options]
    figure = Figure(figsize=(8.0, 1.2 + 0.6 * len(options)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    fonts = _font_families()
    axes = figure.subplots()
    positions = list(range(len(options)))[::-1]  # the first option on top
    axes.barh(positions, votes, color="#1565c0")
    axes.set_yticks(positions, labels, fontfamily=fonts)
    for position, count in zip(positions, votes, strict=True):
        axes.annotate(f" {count}", (count, position), va="center")
    axes.set_title(question if drawable else "", fontfamily=fonts)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(1, max(votes)) * 1.15)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
