"""Interrupt a small run at every file operation (or at many random
moments), carry it on as twolayer says, and check that it always ends as
the run left alone: tests/test_kills.py tries a few of these points, this
tries them all. Each point takes a few seconds (most of it the report).

    PYTHONPATH=src python benchmarks/kill_soak.py                  # kill -9 at every operation
    PYTHONPATH=src python benchmarks/kill_soak.py --signal TERM    # SIGTERM there instead
    PYTHONPATH=src python benchmarks/kill_soak.py --times 50       # kill -9 at 50 random moments
    PYTHONPATH=src python benchmarks/kill_soak.py --twice 30       # 30 runs killed, then killed as they resume
    PYTHONPATH=src python benchmarks/kill_soak.py --force          # the run made with --force over a finished one

Prints one line per point and the failures; exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from killing import Kill, carry_on, operations, same_run  # noqa: E402

TRAIN = ["train", "--out", "run", "--epochs", "4", "--hidden-size", "16", "--batch-size", "100", "--quiet"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signal", default="KILL", choices=["KILL", "TERM", "INT"])
    parser.add_argument("--times", type=int, help="kill at this many random moments instead of every operation")
    parser.add_argument("--twice", type=int, help="this many runs killed mid-run, then again as they resume")
    parser.add_argument("--force", action="store_true", help="train with --force over a finished run of other "
                                                             "options: the old run comes back, or the new one ends")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (printed)")
    args = parser.parse_args()
    signum = signal.Signals[f"SIG{args.signal}"]
    scratch = Path(tempfile.mkdtemp(prefix="twolayer-kills-"))
    command = [*TRAIN, "--force"] if args.force else TRAIN
    alone = scratch / "alone"
    alone.mkdir()
    n, seconds = operations(TRAIN, alone)
    if args.force:
        old = scratch / "old"  # what --force replaces: a finished run of 2 epochs
        old.mkdir()
        operations([*TRAIN[:4], "2", *TRAIN[5:]], old)
        n, seconds = operations(command, _with_old(old, scratch / "count"))
    print(f"{n} file operations, {seconds:.1f} s a run")
    draw = random.Random(args.seed)
    if args.twice:
        plans = [[Kill(signum, at=draw.randrange(n)), Kill(), Kill(signum, at=draw.randrange(n // 2))]
                 for _ in range(args.twice)]
    elif args.times:
        plans = [[Kill(signum, delay=draw.uniform(0, seconds))] for _ in range(args.times)]
    else:
        plans = [[Kill(signum, at=at)] for at in range(n)]
    failed = []
    for i, kills in enumerate(plans):
        where = scratch / f"point{i}"
        if args.force:
            _with_old(scratch / "old", where)
        else:
            where.mkdir()
        try:
            story = carry_on(command, "run", where, kills)
            said = [f"{' '.join(d.args[:2])} ({d.code})" for d in story.commands]
            if args.force and _same_model(where / "run", scratch / "old" / "run"):
                same_run(where / "run", scratch / "old" / "run")  # killed before it started: the old run is back
                said.append("old run back; the same command again")
                carry_on(command, "run", where, [])
            same_run(where / "run", alone / "run")
            print(f"{kills[0]}: ok, {' -> '.join(said)}", flush=True)
        except AssertionError as e:
            failed.append((kills, e))
            print(f"{kills[0]}: FAILED {e!r}"[:2000], flush=True)
        if not args.keep:
            shutil.rmtree(where, ignore_errors=True)
    print(f"{len(plans) - len(failed)} of {len(plans)} points ended as the run left alone")
    if args.keep:
        print(f"scratch: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


def _same_model(a: Path, b: Path) -> bool:
    return (a / "model.npz").is_file() and (a / "model.npz").read_bytes() == (b / "model.npz").read_bytes()


def _with_old(old: Path, where: Path) -> Path:
    """`where`, holding a copy of the finished run that --force replaces."""
    where.mkdir()
    shutil.copytree(old / "run", where / "run")
    return where


if __name__ == "__main__":
    sys.exit(main())
