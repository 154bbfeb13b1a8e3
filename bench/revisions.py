"""Run one bench script on two revisions of the code, in alternation, to compare their figures.

    $ python bench/revisions.py 6b0264f -- bench/pipeline.py --vs-ffmpeg
    $ python bench/revisions.py v0.1 HEAD --rounds 2 -- bench/live.py --seconds 20

Each revision is checked out into a temporary git worktree (the working tree itself stands for
``WORKTREE``, the default second revision, so uncommitted changes count), and the script runs
there with that tree first on ``sys.path``: ``old, new, old, new, ...`` for ``--rounds`` rounds, so
load from other processes falls on both alike.  The bench script's own output is printed under a
header per run; every figure the bench scripts print is already a ratio against a baseline measured
in the same run, so the two revisions' lines compare directly.  Needs git; nothing is installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKTREE = "WORKTREE"


def checkout(revision: str, into: Path) -> Path:
    """A detached worktree of ``revision`` at ``into``; ``WORKTREE`` means this checkout as it is."""
    if revision == WORKTREE:
        return REPO
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(into), revision],
        check=True,
    )
    return into


def run_bench(tree: Path, script: str, args: list[str]) -> int:
    """Run ``tree/script args`` with ``tree`` first on the import path; its output goes to ours."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(tree / script), *args], cwd=tree, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    """Parse ``OLD [NEW] [--rounds N] -- SCRIPT ARGS...`` and run the rounds."""
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("usage: revisions.py OLD [NEW] [--rounds N] -- bench/SCRIPT.py [ARGS...]", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the revision measured first in each round (a commit, branch or tag)")
    parser.add_argument("new", nargs="?", default=WORKTREE, help="the other revision (default: this working tree)")
    parser.add_argument("--rounds", type=int, default=1, help="old/new pairs to run (default 1)")
    options = parser.parse_args(argv[:split])
    bench = argv[split + 1 :]
    if not bench:
        parser.error("name the bench script after --")
    script, args = bench[0], bench[1:]
    if not (REPO / script).is_file():
        parser.error(f"no bench script {script} in {REPO}")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="sc-revisions-") as tmp:
        trees = {rev: checkout(rev, Path(tmp) / f"tree{i}") for i, rev in enumerate([options.old, options.new])}
        try:
            for round_ in range(1, options.rounds + 1):
                for rev, tree in trees.items():
                    print(f"\n===== {rev} (round {round_}/{options.rounds}): {script} {' '.join(args)}", flush=True)
                    failures += run_bench(tree, script, args) != 0
        finally:
            for tree in trees.values():
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
