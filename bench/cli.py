"""Start-up of the command line: ``pointsmall --help`` and ``pointsmall check`` (issue 17).

Run from the repository root::

    .venv/bin/python bench/cli.py              # each command 10 times
    .venv/bin/python bench/cli.py --repeat 3   # a quick look

Each command runs as a fresh process (``python -m bot.cli ...``, what the ``pointsmall``
script runs) and is measured from start to exit: wall time (median and best of the runs) and
peak resident memory (the largest of the runs, from the kernel's ``wait4`` accounting). Beside
them, measured in the same run on the same interpreter, the floor any command stands on:
``python -c pass`` and ``python -c "import sqlalchemy"``. ``check`` runs on an empty SQLite
store, created by ``pointsmall migrate`` in a temporary directory before the timing starts.
Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    label: str
    median_s: float
    best_s: float
    peak_rss_mb: float


def _environment(store: Path) -> dict[str, str]:
    env = dict(os.environ)
    # This checkout's code, whatever the virtualenv was installed from.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["POINTSMALL_DATABASE_URL"] = f"sqlite+aiosqlite:///{store}"
    env.pop("POINTSMALL_CONFIG", None)
    return env


def _run_once(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process running ``argv`` to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}:\n{errors}")
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return wall, usage.ru_maxrss * scale / 1_000_000


def measure(
    label: str, argv: Sequence[str], env: dict[str, str], cwd: Path, repeat: int
) -> Measured:
    walls: list[float] = []
    peak = 0.0
    for _ in range(repeat):
        wall, rss = _run_once(argv, env, cwd)
        walls.append(wall)
        peak = max(peak, rss)
    return Measured(label, statistics.median(walls), min(walls), peak)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command")
    args = parser.parse_args(argv)
    python = sys.executable
    cli = [python, "-m", "bot.cli"]
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-cli-") as tmp:
        workdir = Path(tmp)
        env = _environment(workdir / "mall.db")
        # The empty store `check` reads; not timed.
        subprocess.run([*cli, "migrate"], env=env, cwd=workdir, check=True, capture_output=True)
        rows = [
            measure("python -c pass", [python, "-c", "pass"], env, workdir, args.repeat),
            measure(
                "python -c 'import sqlalchemy'",
                [python, "-c", "import sqlalchemy"],
                env,
                workdir,
                args.repeat,
            ),
            measure("pointsmall --help", [*cli, "--help"], env, workdir, args.repeat),
            measure("pointsmall check (empty SQLite)", [*cli, "check"], env, workdir, args.repeat),
        ]
    print(
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs;"
        f" {args.repeat} runs each, a fresh process per run"
    )
    print(f"{'command':<34} {'median s':>9} {'best s':>8} {'peak RSS MB':>12}")
    for row in rows:
        print(f"{row.label:<34} {row.median_s:>9.3f} {row.best_s:>8.3f} {row.peak_rss_mb:>12.1f}")


if __name__ == "__main__":
    main()
