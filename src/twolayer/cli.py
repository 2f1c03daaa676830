"""The command line: parse, call the library, print. Nothing else lives here.

Every error a user can cause ends in one line on stderr and a non-zero exit:
2 for a bad option, 1 for bad input (a missing file, a broken model, ...).
"""

from __future__ import annotations

import argparse
import json
import sys

from twolayer import __version__, workflow
from twolayer.config import DTYPES, TrainConfig
from twolayer.data import SPEC_HELP
from twolayer.data.preprocess import KINDS
from twolayer.errors import TwolayerError
from twolayer.optim import OPTIMIZERS
from twolayer.schedules import SCHEDULES

D = TrainConfig()  # the defaults shown in --help


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


def build_parser() -> Parser:
    parser = Parser(prog="twolayer", description="Train and use a two-layer neural network on images, in NumPy.")
    parser.add_argument("--version", action="version", version=f"twolayer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a network and write a run folder",
                       description="Train a two-layer network; write model.npz, config.json, history.csv "
                                   "and metrics.json into a run folder. Defaults suit the built-in digits data.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = t.add_argument_group("data")
    data.add_argument("--dataset", default=D.dataset, metavar="SPEC",
                      help=f"dataset spec: {SPEC_HELP}")
    data.add_argument("--data-dir", default=D.data_dir, metavar="DIR",
                      help="where dataset files are kept (default: env TWOLAYER_DATA, else the user cache)")
    data.add_argument("--val-size", type=size, default=D.val_size, metavar="N",
                      help="validation images carved from train: a count or a fraction")
    data.add_argument("--test-size", type=size, default=D.test_size, metavar="N",
                      help="test images carved from train when the dataset has no test split")
    data.add_argument("--split-seed", type=int, default=D.split_seed, metavar="N",
                      help="seed of the validation/test carve (kept apart from --seed)")
    data.add_argument("--preprocess", choices=KINDS, default=D.preprocess,
                      help="preprocessing fitted on the training split")
    net = t.add_argument_group("network and training")
    net.add_argument("--hidden-size", type=int, default=D.hidden_size, metavar="H", help="hidden units")
    net.add_argument("--std", type=float, default=D.std, help="initial weight scale")
    net.add_argument("--lr", type=float, default=D.lr, help="learning rate")
    net.add_argument("--reg", type=float, default=D.reg, help="L2 strength: loss += reg * sum(W**2)")
    net.add_argument("--batch-size", type=int, default=D.batch_size, metavar="N", help="minibatch size")
    net.add_argument("--lr-decay", type=float, default=D.lr_decay, metavar="X",
                     help="learning-rate factor per epoch (schedule 'step')")
    net.add_argument("--schedule", choices=list(SCHEDULES), default=D.schedule, help="learning-rate schedule")
    net.add_argument("--optimizer", choices=list(OPTIMIZERS), default=D.optimizer, help="update rule")
    length = net.add_mutually_exclusive_group()
    length.add_argument("--iters", type=int, default=D.iters, metavar="N", help="iterations (minibatches)")
    length.add_argument("--epochs", type=int, default=D.epochs, metavar="N", help="epochs, when --iters is not given")
    net.add_argument("--seed", type=int, default=D.seed, help="seed for initialization and batch order")
    net.add_argument("--dtype", choices=DTYPES, default=D.dtype, help="float type of the computation")
    out = t.add_argument_group("output")
    out.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder under runs/)")
    out.add_argument("--force", action="store_true", help="overwrite a run folder that already holds a run")
    out.add_argument("--resume", metavar="RUN_DIR",
                     help="continue an interrupted run from its checkpoint, with its own config "
                          "(other training options are ignored)")
    out.add_argument("--quiet", action="store_true", help="no progress bar")

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
    names = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in names})


def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        result = workflow.resume(args.resume, quiet=args.quiet)
    else:
        result = workflow.train(config_from_args(args), args.out, force=args.force, quiet=args.quiet)
    m = result.metrics
    print(f"run folder: {result.run_dir}")
    print(f"accuracy  train {_fmt(m['train_accuracy'])}  val {_fmt(m['val_accuracy'])}  "
          f"test {_fmt(m['test_accuracy'])}")
    kept = (f"kept the best validation epoch (iteration {m['best_iteration']})" if m["best_iteration"]
            else "no validation epoch completed; kept the last parameters")
    print(f"{m['iterations']} iterations in {m['seconds']:.1f} s; {kept}")
    if m["stopped_early"]:
        print(f"twolayer train: stopped early: {m['stopped_early']}", file=sys.stderr)
        return 3
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


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except workflow.Interrupted as e:
        print(f"twolayer {args.command}: {e}", file=sys.stderr)
        return 128 + e.signum
    except TwolayerError as e:
        print(f"twolayer {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"twolayer {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
