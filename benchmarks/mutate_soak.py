"""Mutate the files twolayer writes, one mutation at a time, and read them
back with every command: tests/test_mutations.py keeps one or two cases of
each class of fault this found, this draws many.

    PYTHONPATH=src python benchmarks/mutate_soak.py               # 200 mutations drawn at random
    PYTHONPATH=src python benchmarks/mutate_soak.py --cases 2000 --seed 3
    PYTHONPATH=src python benchmarks/mutate_soak.py --only tune.json

It makes a finished run (exported), a run stopped by SIGTERM after its first
checkpoint, a learner's run (tests/learners/neural_net.py) and a grid and a
random search on digits, then mutates a file in a fresh copy: a JSON value
removed, renamed, null, of another type or extreme; a CSV cell, column or
row; an .npz array removed, reshaped, retyped, NaN (checksum kept stale, or
signed again), its metadata's values, a member cut short or not .npy; a
journal line; bit flips, truncation, garbage, the file as a folder, a link
loop or a link to the user's file. Each command that reads the folder then
runs in a fork of this process (twolayer imported once) with a timeout.

BAD: a traceback, a hang, a refusal of more or less than one line, exit 0
with NaN in its output, or a file outside the folder changed. CHANGED: exit
0 with output unlike the unmutated folder's (look at these: a value edited
and shown without a word?). Exit 1 if anything was BAD.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

import numpy as np

LEARNER = Path(__file__).resolve().parents[1] / "tests" / "learners" / "neural_net.py"
SMALL = ["--hidden-size", "16", "--quiet"]
TUNES = {"grid": ["tune", "--out", "grid", "--lr", "0.05,0.1", "--epochs", "2", *SMALL],
         "rnd": ["tune", "--out", "rnd", "--sampler", "random", "--lr", "0.01:0.2:log", "--trials", "2",
                 "--epochs", "2", *SMALL]}
NOTES = "notes.txt"  # the user's own file beside the folders: never to change


def twolayer(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "twolayer", *args], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def make_fixtures(fix: Path) -> None:
    from PIL import Image

    shutil.copy(LEARNER, fix / "net.py")
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(fix / "some.png")
    (fix / NOTES).write_text("the user's notes\nand an unfinished line")
    for args in (["train", "--out", "fin", "--epochs", "3", *SMALL], ["export", "fin"],
                 ["train", "--out", "lrn", "--net", "net.py", "--epochs", "3", *SMALL], *TUNES.values()):
        assert twolayer(args, fix).wait() == 0, args
    stopped = twolayer(["train", "--out", "intr", "--epochs", "3", "--batch-size", "1", "--hidden-size", "200",
                        "--quiet"], fix)
    while not (fix / "intr" / "checkpoint.npz").exists():
        time.sleep(0.01)
    stopped.send_signal(signal.SIGTERM)
    stopped.wait()


def commands(folder: str, rel: str) -> list[list[str]]:
    """Every command that reads `folder` (a path under it, `rel`, mutated); ["api", ...]: a Python call."""
    if folder in TUNES:
        best, trial = f"{folder}/best", re.match(r"trials/\d+", rel)
        return [["report", folder], ["evaluate", best], ["predict", best, "some.png"],
                ["export", best, "--out", "x.onnx"], TUNES[folder], ["api", "load_bundle", best],
                *([["evaluate", f"{folder}/{trial.group()}"], ["report", f"{folder}/{trial.group()}"]]
                  if trial else [])]
    net, longer = (["--net", "net.py"] if folder == "lrn" else []), ([] if folder == "intr" else ["--epochs", "4"])
    return [["report", folder], ["evaluate", folder], ["predict", folder, "some.png"],
            ["export", folder, "--out", "x.onnx"], ["train", "--resume", folder, *net, *longer],
            ["api", "load_bundle", folder], ["api", "resume", folder, *net[1:], *longer[1:]]]


def child(argv: list[str]) -> int:
    """One command, in the forked child: its exit status (99 for a traceback)."""
    from twolayer.errors import TwolayerError

    try:
        if argv[0] != "api":
            from twolayer.cli import main

            return main(argv) or 0
        import twolayer
        from twolayer.data.images import read_image

        if argv[1] == "load_bundle":
            bundle = twolayer.load_bundle(argv[2])
            print(repr(bundle), bundle.probabilities(read_image("some.png", bundle.image_shape)[None]).round(4))
        else:
            rest = argv[3:]
            print(twolayer.resume(argv[2], quiet=True, net=next((w for w in rest if w.endswith(".py")), None),
                                  length={"epochs": int(rest[-1])} if rest and rest[-1].isdigit() else None))
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except TwolayerError as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 99


def run(argv: list[str], case: Path, timeout: float) -> tuple[int | None, str, str]:
    """(exit status or None for a hang, stdout, stderr) of argv run in case/."""
    out, err = case / ".out", case / ".err"
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.chdir(case)
            for fd, path in ((1, out), (2, err)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True)
            os._exit(child(argv))
        finally:
            os._exit(98)
    start, code = time.monotonic(), None
    while time.monotonic() - start < timeout:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.01)
    else:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    texts = [p.read_bytes().decode(errors="replace") if p.exists() else "" for p in (out, err)]
    out.unlink(missing_ok=True)
    err.unlink(missing_ok=True)
    return code, *texts


# -- mutations: (name, apply(path)) ------------------------------------------------------------------

VALUES = {"null": None, "text": "abc", "number": 7, "list": [1, 2], "dict": {}, "true": True, "1e308": 1e308,
          "-1": -1, "0": 0, "nan": float("nan"), "inf": float("inf"), "huge": 10**40, "long": "a" * 100_000, "": ""}


def writing(data: bytes):
    return lambda path: path.write_bytes(data)


def key_paths(obj: dict, prefix: tuple = ()):
    for key, value in obj.items():
        yield (*prefix, key)
        if isinstance(value, dict) and len(prefix) < 2:
            yield from key_paths(value, (*prefix, key))


def edited(obj: dict, keys: tuple, how: str):
    obj = json.loads(json.dumps(obj))
    parent = obj
    for key in keys[:-1]:
        parent = parent[key]
    if how == "remove":
        del parent[keys[-1]]
    elif how == "rename":
        parent[keys[-1] + "_x"] = parent.pop(keys[-1])
    else:
        parent[keys[-1]] = VALUES[how]
    return obj


def value_mutations(obj: dict, dump, prefix: str = "") -> list:
    return [(f"{prefix}{'.'.join(keys)}:{how}", writing(dump(edited(obj, keys, how))))
            for keys in key_paths(obj) for how in ("remove", "rename", *VALUES)]


def json_mutations(data: bytes) -> list:
    obj = json.loads(data)
    dump = lambda o: json.dumps(o, indent=2).encode()  # noqa: E731
    first = next(iter(obj))
    return [*value_mutations(obj, dump), ("extra key", writing(dump({**obj, "zzz": 1}))),
            ("a list", writing(dump([obj]))), ("reordered", writing(dump(dict(reversed(obj.items()))))),
            ("key twice", writing(data.rstrip()[:-1] + f',"{first}": "dup"}}'.encode())),
            ("not UTF-8", writing(data.replace(b'"', b'"\xff', 1)))]


def csv_mutations(data: bytes) -> list:
    rows = list(csv.reader(io.StringIO(data.decode())))
    head, body = rows[0], rows[1:]
    out = []
    for j, column in enumerate(head):
        out += [(f"{column}: column removed", [[c for i, c in enumerate(r) if i != j] for r in rows]),
                (f"{column}: renamed", [[*head[:j], column + "_x", *head[j + 1:]], *body])]
        for r in {0, len(body) - 1}:
            for text in ("", "abc", "1e308", "-1", "0", "nan", "inf", "-inf", str(10**40), "1.5"):
                new = [list(x) for x in body]
                new[r][j] = text
                out.append((f"row {r} {column}={text}", [head, *new]))
    out += [("rows reversed", [head, *body[::-1]]), ("first row removed", [head, *body[1:]]),
            ("first row twice", [head, body[0], *body]), ("no rows", [head]), ("no header", body),
            ("row cut short", [head, body[0][:1], *body[1:]]),
            ("extra column", [[*head, "x"], *[[*r, 1] for r in body]])]
    return [(name, writing(csv_bytes(r))) for name, r in out]


def csv_bytes(rows: list) -> bytes:
    f = io.StringIO()
    csv.writer(f, lineterminator="\n").writerows(rows)
    return f.getvalue().encode()


def npz_bytes(arrays: dict, sign: bool) -> bytes:
    from twolayer.bundles import checksum

    if sign:
        meta = json.loads(str(arrays["meta"]))
        meta["checksum"] = checksum({k: v for k, v in arrays.items() if k != "meta"})
        arrays = {**arrays, "meta": np.array(json.dumps(meta))}
    f = io.BytesIO()
    np.savez(f, **arrays)
    return f.getvalue()


def first_set(a: np.ndarray, value) -> np.ndarray:
    """A copy of `a` whose first value is `value`."""
    b = a.copy()
    b.reshape(-1)[0] = value
    return b


def npz_mutations(data: bytes) -> list:
    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    out = []
    for key, a in arrays.items():
        if key == "meta":
            continue
        kinds = {"removed": None, "flat": a.reshape(-1), "one more axis": a[None], "empty": a.reshape(-1)[:0],
                 "reversed": a.reshape(-1)[::-1].reshape(a.shape), "object": a.astype(object),
                 **{dt: a.astype(dt) for dt in ("float64", "float16", "int32", "bool", "str") if a.dtype != dt}}
        if a.ndim == 2:
            kinds["transposed"] = a.T.copy()
        if a.size and a.dtype.kind == "f":
            kinds.update(nan=first_set(a, np.nan), inf=first_set(a, np.inf), big=first_set(a, 1e30))
        if a.size and a.dtype.kind in "iu":
            kinds.update(negative=first_set(a, -1), huge=first_set(a, np.iinfo(a.dtype).max))
        for how, value in kinds.items():
            new = {k: v for k, v in arrays.items() if k != key or value is not None}
            if value is not None:
                new[key] = value
            out += [(f"{key} {how}", writing(npz_bytes(new, False))),
                    (f"{key} {how}, signed", writing(npz_bytes(new, True)))]
    if "meta" in arrays:
        meta = json.loads(str(arrays["meta"]))
        out += value_mutations(meta, lambda m: npz_bytes({**arrays, "meta": np.array(json.dumps(m))}, False), "meta.")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    for name, raw in members.items():
        for how, new_raw in (("cut short", raw[: len(raw) // 2]), ("not .npy", b"hello\n")):
            f = io.BytesIO()
            with zipfile.ZipFile(f, "w") as z:
                for other, r in members.items():
                    z.writestr(other, new_raw if other == name else r)
            out.append((f"member {name} {how}", writing(f.getvalue())))
        at = data.find(raw) + len(raw) - 1  # np.savez stores: a byte of the member's data, its CRC now wrong
        out.append((f"member {name} CRC broken", writing(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])))
    return out


def journal_mutations(data: bytes) -> list:
    lines = data.splitlines()
    join = lambda ls: b"".join(line + b"\n" for line in ls)  # noqa: E731
    out = [("lines reversed", join(lines[::-1])), ("no last newline", data.rstrip(b"\n"))]
    for i, line in enumerate(lines):
        out += [(f"line {i} removed", join(lines[:i] + lines[i + 1:])),
                (f"line {i} twice", join(lines[:i] + lines[i:])),
                (f"line {i} cut", join([*lines[:i], line[: len(line) // 2], *lines[i + 1:]])),
                (f"line {i} garbage", join([*lines[:i], b"garbage{", *lines[i + 1:]])),
                (f"line {i} not UTF-8", join([*lines[:i], line[:10] + b"\xff" + line[10:], *lines[i + 1:]]))]
        record = json.loads(line)
        for key in record:
            for how, value in (("null", None), ("text", "abc"), ("-1", -1), ("list", [])):
                out.append((f"line {i} {key}={how}", join([*lines[:i], json.dumps({**record, key: value}).encode(),
                                                           *lines[i + 1:]])))
    return [(name, writing(b)) for name, b in out]


def byte_mutations(data: bytes, rng: random.Random) -> list:
    def flip(at: int, bit: int):
        return writing(data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1:])

    def replace(make):
        def apply(path: Path) -> None:
            path.unlink()
            make(path)
        return apply

    out = [(f"bit flip at {at}", flip(at, rng.randrange(8))) for at in rng.sample(range(len(data)), min(4, len(data)))]
    out += [(f"cut at {n}", writing(data[:n])) for n in {0, len(data) // 2, len(data) - 1, rng.randrange(len(data))}]
    out += [("garbage appended", writing(data + bytes(rng.randrange(256) for _ in range(64)))),
            ("a folder", replace(lambda p: (p.mkdir(), (p / "x").write_text("x")))),
            ("a link loop", replace(lambda p: p.symlink_to(p.name))),
            ("a dangling link", replace(lambda p: p.symlink_to("x"))),
            ("a link to the user's notes",
             replace(lambda p: p.symlink_to(os.path.relpath(case_of(p) / NOTES, p.parent)))),
            ("deleted", lambda p: p.unlink())]
    return out


def case_of(path: Path) -> Path:
    while not (path / NOTES).exists():
        path = path.parent
    return path


def mutations(fix: Path, folder: str) -> list:
    out = []
    for path in sorted(p for p in (fix / folder).rglob("*") if p.is_file()):
        rel, data = str(path.relative_to(fix / folder)), path.read_bytes()
        found = byte_mutations(data, random.Random(f"{folder}/{rel}"))
        family = {".json": json_mutations, ".csv": csv_mutations, ".npz": npz_mutations, ".journal": journal_mutations}
        found += family.get(path.suffix, lambda _: [])(data)
        out += [(folder, rel, name, apply) for name, apply in found]
    return out


def outcome(fix: Path, scratch: Path, folder: str, rel: str, apply, argv: list[str], timeout: float) -> dict:
    case = scratch / "case"
    shutil.rmtree(case, ignore_errors=True)
    case.mkdir()
    for name in ("net.py", "some.png", NOTES, folder):
        (shutil.copytree if name == folder else shutil.copy)(fix / name, case / name)
    if apply:
        apply(case / folder / rel)
    code, out, err = run(argv, case, timeout)
    norm = lambda t: re.sub(r"\d+\.\d+ s|\d\d:\d\d\S*", "T", t)  # noqa: E731
    onnx = case / "x.onnx"
    return {"code": code, "out": norm(out), "err": err, "notes": (case / NOTES).read_bytes(),
            "x.onnx": hashlib.sha256(onnx.read_bytes()).hexdigest() if onnx.is_file() else None}


def verdict(got: dict, alone: dict, rel: str) -> str | None:
    """Why `got` is BAD or CHANGED (against the unmutated folder's `alone`); None if it is fine."""
    errors = [line for line in got["err"].splitlines() if line.strip() and ": note:" not in line]
    if got["code"] is None:
        return "BAD hang"
    if got["code"] in (98, 99) or "Traceback" in got["err"]:
        return "BAD traceback: " + (errors[-1] if errors else "")
    if got["notes"] != alone["notes"]:
        return "BAD the user's notes changed"
    if got["code"] != 0:
        return None if len(errors) == 1 or got["err"] == alone["err"] else f"BAD {len(errors)} error lines"
    if re.search(r"\bnan\b", got["out"]) and not re.search(r"\bnan\b", alone["out"]):
        return "BAD exit 0, NaN in its output"
    if (got["out"], got["x.onnx"]) != (alone["out"], alone["x.onnx"]):
        return "CHANGED exit 0, output unlike the unmutated folder's"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="mutations drawn at random (of some 20,000)")
    parser.add_argument("--only", default="", help="only mutations whose 'FOLDER/FILE MUTATION' holds this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60, help="seconds a command may take")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (printed)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="twolayer-mutate-"))
    fix = scratch / "fixtures"
    fix.mkdir()
    make_fixtures(fix)
    import twolayer.cli  # noqa: F401  imported once, before the forks
    import twolayer.report  # noqa: F401

    todo = [m for folder in ("fin", "intr", "lrn", *TUNES) for m in mutations(fix, folder)
            if args.only in f"{m[0]}/{m[1]} {m[2]}"]
    todo = random.Random(args.seed).sample(todo, min(args.cases, len(todo)))
    alone = {}
    bad = changed = runs = 0
    for i, (folder, rel, name, apply) in enumerate(todo, 1):
        for argv in commands(folder, rel):
            key = (folder, tuple(argv))
            if key not in alone:
                alone[key] = outcome(fix, scratch, folder, rel, None, argv, args.timeout)
            why = verdict(outcome(fix, scratch, folder, rel, apply, argv, args.timeout), alone[key], rel)
            runs += 1
            if why:
                bad += why.startswith("BAD")
                changed += why.startswith("CHANGED")
                print(f"{why[:200]}\n    {folder}/{rel}: {name}; twolayer {' '.join(argv)}", flush=True)
        if i % 25 == 0:
            print(f"... {i} of {len(todo)} mutations", flush=True)
    print(f"{len(todo)} mutations, {runs} commands: {bad} BAD, {changed} CHANGED")
    if args.keep:
        print(f"scratch: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
