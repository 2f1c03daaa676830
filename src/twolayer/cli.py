"""The command line: parse, call the library, print. Nothing else lives here.

Every error a user can cause ends in one line on stderr and a non-zero exit:
2 for a bad option, 1 for bad input (a missing file, a broken model, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twolayer import __version__, workflow
from twolayer.backend import DEVICES
from twolayer.config import DTYPES, TrainConfig
from twolayer.data import SPEC_HELP
from twolayer.data.preprocess import KINDS
from twolayer.errors import TwolayerError
from twolayer.optim import OPTIMIZERS
from twolayer.recipes import RECIPES
from twolayer.schedules import SCHEDULES

D = TrainConfig()  # the defaults shown in --help

# Every training option: (group, TrainConfig field, metavar, choices, help). `train` takes
# one typed value for each; `tune` also takes lists and ranges, so any of them can be searched.
TRAIN_OPTIONS = [
    ("data", "dataset", "SPEC", None, f"dataset spec: {SPEC_HELP}"),
    ("data", "data_dir", "DIR", None, "where dataset files are kept (default: env TWOLAYER_DATA, else the user cache)"),
    ("data", "val_size", "N", None, "validation images carved from train: a count or a fraction"),
    ("data", "test_size", "N", None, "test images carved from train when the dataset has no test split"),
    ("data", "split_seed", "N", None, "seed of the validation/test carve (kept apart from --seed)"),
    ("data", "preprocess", None, KINDS, "preprocessing fitted on the training split"),
    ("data", "zca_epsilon", "X", None, "ZCA whitening's regularizer, in (pixel / 255)^2 units"),
    ("net", "hidden_size", "H", None, "hidden units"),
    ("net", "std", "X", None, "initial weight scale"),
    ("net", "lr", "X", None, "learning rate"),
    ("net", "batch_size", "N", None, "minibatch size"),
    ("net", "schedule", None, tuple(SCHEDULES), "learning-rate schedule"),
    ("net", "lr_decay", "X", None, "learning-rate factor per epoch (schedule 'step')"),
    ("net", "warmup", "X", None, "fraction of the run spent warming up (cosine; onecycle uses 0.3 when 0)"),
    ("net", "optimizer", None, tuple(OPTIMIZERS), "update rule"),
    ("net", "momentum", "X", None, "momentum (optimizers momentum and nesterov)"),
    ("net", "iters", "N", None, "iterations (minibatches); overrides --epochs"),
    ("net", "epochs", "N", None, "epochs, when --iters is not given"),
    ("net", "seed", "N", None, "seed for initialization, batch order, dropout and augmentation"),
    ("net", "dtype", None, DTYPES, "float type of the computation"),
    ("net", "device", None, DEVICES, "where to compute: cpu (NumPy) or cuda (CuPy on an NVIDIA GPU)"),
    ("reg", "reg", "X", None, "L2 strength: loss += reg * sum(W**2)"),
    ("reg", "weight_decay", "X", None, "decoupled weight decay: W *= 1 - lr * wd each step"),
    ("reg", "dropout_input", "P", None, "inverted dropout on the input pixels"),
    ("reg", "dropout_hidden", "P", None, "inverted dropout on the hidden units"),
    ("reg", "label_smoothing", "E", None, "label smoothing"),
    ("reg", "flip", None, None, "random horizontal flips (image data)"),
    ("reg", "crop", "PIXELS", None, "random crops of the image reflect-padded by this many pixels"),
]
GROUPS = {"data": "data", "net": "network and training", "reg": "regularization and augmentation"}


class Parser(argparse.ArgumentParser):
    """argparse, with its errors cut to one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def size(text: str) -> float:
    """A split size: a count (1000) or a fraction (0.1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction, got {text!r}") from None
    return int(value) if value >= 1 and value.is_integer() else value


def value_type(name: str):
    if name in ("val_size", "test_size"):
        return size
    if name in ("dataset", "data_dir", "preprocess", "schedule", "optimizer", "dtype", "device"):
        return str
    return int if name in ("hidden_size", "batch_size", "iters", "epochs", "seed", "split_seed", "crop") else float


def add_train_options(parser: argparse.ArgumentParser, searchable: bool) -> None:
    """Each option's value is left unset unless given, so that a recipe's
    values apply under the ones given (and TrainConfig's defaults under both)."""
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    length = groups["net"].add_mutually_exclusive_group() if not searchable else groups["net"]
    for group, name, metavar, choices, help_text in TRAIN_OPTIONS:
        flag = "--" + name.replace("_", "-")
        target = length if name in ("iters", "epochs") else groups[group]
        default = f" (default: {getattr(D, name)})"
        if searchable:
            if name == "data_dir":
                target.add_argument(flag, metavar=metavar, help=help_text, default=argparse.SUPPRESS)
                continue
            shown = f"{{{','.join(choices)}}}" if choices else (metavar or "true,false")
            target.add_argument(flag, metavar=shown, default=argparse.SUPPRESS,
                                help=f"{help_text}; a value, a list a,b,c or a range low:high[:log]{default}")
        elif name == "flip":
            target.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text + default)
        else:
            target.add_argument(flag, type=value_type(name), default=argparse.SUPPRESS, metavar=metavar,
                                choices=choices, help=help_text + default)


def build_parser() -> Parser:
    parser = Parser(prog="twolayer", description="Train and use a two-layer neural network on images, in NumPy.")
    parser.add_argument("--version", action="version", version=f"twolayer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a network and write a run folder",
                       description="Train a two-layer network; write model.npz, config.json, history.csv, "
                                   "metrics.json and a report into a run folder. Defaults suit the built-in "
                                   "digits data; --recipe starts from a named set of options.")
    t.add_argument("--recipe", choices=list(RECIPES),
                   help="start from a named recipe (options given here win): "
                        "classic (the course report's), cpu (one hidden layer trained well on 2 cores), "
                        "gpu (the same at full width, for a GPU)")
    add_train_options(t, searchable=False)
    out = t.add_argument_group("output")
    out.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder under runs/)")
    out.add_argument("--force", action="store_true", help="overwrite a run folder that already holds a run")
    out.add_argument("--resume", metavar="RUN_DIR",
                     help="continue an interrupted run from its checkpoint, with its own config "
                          "(other training options are ignored)")
    out.add_argument("--quiet", action="store_true", help="no progress bar")

    u = sub.add_parser("tune", help="search hyperparameters with Optuna",
                       description="Search training options on Optuna. Each option takes one value (fixed), a "
                                   "list a,b,c, or a range low:high[:log]; --space FILE.toml gives the same in a "
                                   "file. Run the same command again to continue an interrupted search.")
    add_train_options(u, searchable=True)
    s = u.add_argument_group("search")
    s.add_argument("--space", metavar="FILE.toml", help="search space file; command-line values win")
    s.add_argument("--sampler", choices=("grid", "random", "tpe"), default="grid", help="default: grid")
    s.add_argument("--trials", type=int, metavar="N",
                   help="trials to finish (default: the whole grid, or 20 for random/tpe)")
    s.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                   help="stops trials that lag the others (default: median)")
    s.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes on this machine (default 1)")
    s.add_argument("--sampler-seed", type=int, default=0, metavar="N", help="seed of the random/tpe sampler")
    s.add_argument("--storage", metavar="URL",
                   help="shared study database, e.g. postgresql://USER@HOST/DB (default: a journal file in --out)")
    s.add_argument("--study", metavar="NAME", help="study name (default: twolayer-DATASET)")
    s.add_argument("--out", metavar="DIR", help="output folder (default: runs/STUDY)")
    s.add_argument("--quiet", action="store_true", help="no per-trial lines")

    r = sub.add_parser("report", help="write report.html for a run or a search",
                       description="Write report.html (self-contained: plots, metrics, per-class accuracy, "
                                   "example predictions; for a search, the trials) and the PNG figures into "
                                   "a run folder or a tuning folder. train and tune do this at the end.")
    r.add_argument("folder", metavar="DIR", help="a run folder or a tuning folder")

    e = sub.add_parser("evaluate", help="accuracy of a saved model on a dataset split",
                       description="Accuracy of a saved model on a dataset split. On the dataset the model was "
                                   "trained on, 'val' and 'test' are the images its run held out.")
    e.add_argument("model", metavar="MODEL", help="a run folder or its model.npz")
    e.add_argument("--dataset", required=True, metavar="SPEC", help=f"dataset spec: {SPEC_HELP}")
    e.add_argument("--data-dir", metavar="DIR", help="where dataset files are kept")
    e.add_argument("--split", choices=("train", "val", "test"), default="test", help="which split (default: test)")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="predicted class of each image file",
                       description="Print the predicted class of each image file (resized to the model's input).")
    p.add_argument("model", metavar="MODEL", help="a run folder or its model.npz")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The recipe's values (if any), then the options given."""
    names = TrainConfig.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in names and k != "recipe"}
    values = dict(RECIPES[args.recipe]) if getattr(args, "recipe", None) else {}
    if "epochs" in given and "iters" not in given:
        values.pop("iters", None)  # --epochs given: a recipe's iteration count must not override it
    return TrainConfig(**{**values, **given, "recipe": getattr(args, "recipe", None)})


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        result = workflow.resume(args.resume, quiet=args.quiet)
    else:
        result = workflow.train(config_from_args(args), args.out, force=args.force, quiet=args.quiet)
    from twolayer.report import report

    page = report(result.run_dir, result.data)
    m = result.metrics
    print(f"run folder: {result.run_dir} (report: {page.name})")
    print(f"accuracy  train {_fmt(m['train_accuracy'])}  val {_fmt(m['val_accuracy'])}  "
          f"test {_fmt(m['test_accuracy'])}")
    kept = (f"kept the best validation epoch (iteration {m['best_iteration']})" if m["best_iteration"]
            else "no validation epoch completed; kept the last parameters")
    print(f"{m['iterations']} iterations in {m['seconds']:.1f} s; {kept}")
    if m["stopped_early"]:
        print(f"twolayer train: stopped early: {m['stopped_early']}", file=sys.stderr)
        return 3
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from twolayer import tune
    from twolayer.space import build_space

    given = {name: getattr(args, name) for _, name, *_ in TRAIN_OPTIONS if hasattr(args, name)}
    data_dir = given.pop("data_dir", None)
    space = build_space(given, args.space)
    if data_dir:
        space.fixed["data_dir"] = data_dir
    dataset = space.fixed.get("dataset", D.dataset)
    study = args.study or "twolayer-" + "".join(c if c.isalnum() else "-" for c in str(dataset))[-60:].strip("-")
    opts = tune.TuneOptions(space=space, out=Path(args.out or Path("runs") / study), sampler=args.sampler,
                            trials=args.trials, jobs=args.jobs, storage=args.storage, study=study,
                            pruner=args.pruner, seed=args.sampler_seed, quiet=args.quiet)
    try:
        result = tune.run(opts)
    except tune.TuneInterrupted as e:
        print_trials(e.result)
        raise
    print_trials(result)
    if result.best:
        shown = ", ".join(f"{n} {result.best[n]:g}" if isinstance(result.best[n], float) else f"{n} {result.best[n]}"
                          for n in space.dimensions)
        where = f" -> {result.best_dir}" if result.best_dir else " (its run folder is on the machine that ran it)"
        print(f"best: trial {result.best['trial']}, validation accuracy {result.best['val_accuracy']:.4f} "
              f"({shown}){where}")
    from twolayer.report import report

    if result.best_dir:
        report(result.best_dir)
    page = report(result.out)
    print(f"{len(result.rows)} trials in {result.seconds:.1f} s; table in {result.out / 'trials.csv'}, "
          f"report in {page}")
    if result.interrupted:
        print(f"twolayer tune: {result.interrupted} trial(s) failed or were interrupted; "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def print_trials(result) -> None:
    headers = [c.replace("_accuracy", "") for c in result.columns]
    rows = [[_cell(c, r[c]) for c in result.columns] for r in sorted(result.rows, key=lambda r: r["trial"])]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def _cell(column: str, value) -> str:
    if value is None:
        return "-"
    if column.endswith("accuracy"):
        return f"{value:.4f}"
    if column == "seconds":
        return f"{value:.1f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def cmd_report(args: argparse.Namespace) -> int:
    from twolayer.report import report

    print(report(args.folder))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    result = workflow.evaluate(args.model, args.dataset, args.split, args.data_dir)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['split']} accuracy {result['accuracy']:.4f} ({result['correct']}/{result['n']}) "
              f"on {result['dataset']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    for row in workflow.predict(args.model, args.images):
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['path']}\t{row['class']}\t{row['probability']:.3f}")
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


COMMANDS = {"train": cmd_train, "tune": cmd_tune, "report": cmd_report, "evaluate": cmd_evaluate,
            "predict": cmd_predict}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except TwolayerError as e:
        print(f"twolayer {args.command}: {e.label}{e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"twolayer {args.command}: interrupted", file=sys.stderr)
        return 130

if __name__ == "__main__":
    sys.exit(main())
