"""The command line: parse, call the library, print. Nothing else lives here.

Every error a user can cause ends in one line on stderr and a non-zero exit:
2 for a bad option, 1 for bad input (a missing file, a broken model, ...).
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import signal
import sys
import tempfile
import warnings
from pathlib import Path

from twolayer import __version__, runs, signals, workflow
from twolayer.bundles import MODEL_FILE
from twolayer.config import GROUPS, Option, OptionError, TrainConfig, check_used, options, with_recipe
from twolayer.data import SPEC_HELP
from twolayer.errors import TwolayerError, UsageError
from twolayer.export import FORMATS, INPUT, OPSET, OUTPUT, SUFFIXES, export
from twolayer.files import owner_rights
from twolayer.learner import label
from twolayer.memory import address_space_limit, describe
from twolayer.space import config_file
from twolayer.streams import json_line, lasting_output, lost, open_closed_standard_fds, say, shell_word, shown
from twolayer.tune import PRUNERS, SAMPLERS, cell, no_best


class Parser(argparse.ArgumentParser):
    """argparse, with its errors cut to one line, no abbreviated options
    (`--hid 10` would mean --hidden-size only until an option --hidden-... is
    added, and a script that used it would then fail or, worse, mean
    another), no empty values (_get_value), and a word that begins with a
    minus and a digit read as a value, never as an option: argparse reads
    only -1 and -1.5 so, and `--lr -1e-3`, or tune's `--seed -1,5` and
    `--lr -1:1`, said `expected one argument`, not what was wrong with the
    value (no option of twolayer's begins so)."""

    given: list[str] = []  # the words parsed, for a refusal's hint

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")  # as Python 3.13's argparse reads -1e-3

    def _get_value(self, action: argparse.Action, text: str):  # type: ignore[override]
        """Every value given, before its conversion: an empty one is refused,
        as an unset shell variable makes it (`--resume "$RUN"`). Taken as not
        given, --resume '' trained a new run and --config '' and --net ''
        trained without the file; as a path, '' is the current folder: train
        --out '' wrote its run there and report '' reported it. A NUL (only
        main([...]) can pass one: a shell cannot) ends any path: every file
        call raised ValueError, a traceback."""
        if isinstance(action, argparse._SubParsersAction):  # the command and its words: its own parser's
            return text
        if text == "":
            raise argparse.ArgumentError(action, "an empty value (an unset shell variable?); give "
                                         + (action.metavar or action.dest.upper()))
        if "\0" in text:
            raise argparse.ArgumentError(action, f"a NUL character in {text!r}")
        return super()._get_value(action, text)

    def _get_values(self, action: argparse.Action, words: list[str]):  # type: ignore[override]
        """`--lr=--`: argparse drops a "--" given with "=" as the end of the
        options, and the option took an empty list, which no conversion saw
        (tune, export and check failed with a traceback, train said `--lr
        must be a number > 0, got []`): refused as `--lr --` is."""
        if action.option_strings and action.nargs is None and words == ["--"]:
            raise argparse.ArgumentError(action, "expected one argument")
        return super()._get_values(action, words)

    def error(self, message: str) -> None:  # type: ignore[override]
        """One line, whatever the words given hold (`predict RUN IMG $'\\n'`:
        an unrecognized newline broke the line in two)."""
        if message.startswith("the following arguments are required"):  # `evaluate --model=RUN`
            places = [self.given_by_place(w.split("=")[0]) for w in self.given
                      if w.startswith("--") and w.split("=")[0] not in self._option_string_actions]
            message += "".join(f"; {place}" for place in places[:1] if place)
        self.exit(2, f"{self.prog}: error: {shown(message)}{self.dashed_files()} (see --help)\n")

    def dashed_files(self) -> str:
        """A hint for the files given whose names begin with "-" (`predict RUN
        -x.png`): argparse reads them as options, and said that no IMAGE was
        given, or that -x.png is an unknown option."""
        dashed = [w for w in self.given[:self.given.index("--") if "--" in self.given else None]
                  if w.startswith("-") and w not in self._option_string_actions and os.path.lexists(w)]
        return (f"; {shown(dashed[0])} is read as an option: give a file whose name begins with - as "
                f"./{shown(dashed[0])}, or after --" if dashed else "")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """Unknown options are reported by the command they were given to,
        with the nearest option it has ("--epocs": did you mean --epochs?)."""
        Parser.given = list(sys.argv[1:] if args is None else args)
        parsed, extra = self.parse_known_args(args, namespace)
        if hasattr(self, "commands") and getattr(parsed, "command", None) is None:  # a bare `twolayer`
            self.error(f"give a command: {', '.join(self.commands)}; a first run: twolayer train")
        if extra:
            target = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            word = extra[0].split("=")[0]
            place = target.given_by_place(word)
            near = nearest(word, list(target._option_string_actions))
            target.error(f"unrecognized arguments: {' '.join(extra)}" + (
                f"; {place}" if place else f"; did you mean {near}?" if near else ""))
        return parsed

    def given_by_place(self, word: str) -> str | None:
        """For an option named as one of the command's positional arguments
        (`predict --model RUN IMG`, as other tools write it): that the
        argument is given by its place, and the command's shape."""
        name = word.lstrip("-").lower().replace("-", "_").removesuffix("s")
        places = [a for a in self._actions if not a.option_strings and a.dest != "command"]
        for action in places:
            if name and name in {action.dest.lower().removesuffix("s"), str(action.metavar).lower()}:
                shape = " ".join({"+": f"{a.metavar} [{a.metavar} ...]", "?": f"[{a.metavar}]"}.get(
                    a.nargs, str(a.metavar)) for a in places)
                return f"{action.metavar} is given by its place, without {word}: {self.prog} {shape}"
        return None

    def _check_value(self, action: argparse.Action, value) -> None:
        """A value not among an option's choices, or an unknown command, with
        the nearest one ("trian": did you mean train?)."""
        if action.choices is not None and value not in action.choices:
            near = nearest(str(value), [str(c) for c in action.choices])
            if near:
                choices = ", ".join(map(repr, action.choices))
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}; did you mean {near}? "
                                                     f"(choose from {choices})")
        super()._check_value(action, value)


def nearest(word: str, known: list[str]) -> str | None:
    """The known word `word` is most likely a slip for: one it begins (an
    abbreviation: --hid for --hidden-size), else the closest in spelling."""
    started = [k for k in known if k.startswith(word) and len(word) > 2]
    if len(started) > 1:
        return " or ".join(started)
    near = started or difflib.get_close_matches(word, known, n=1)
    return near[0] if near else None


def typed(opt: Option):
    """argparse's `type` for an option: its conversion, with argparse's errors."""

    def parse(text: str):
        try:
            return opt.convert(text)
        except OptionError as e:
            raise argparse.ArgumentTypeError(e.problem) from None

    parse.__name__ = opt.kind.__name__
    return parse


def add_train_options(parser: argparse.ArgumentParser, config_class: type, searchable: bool,
                      skip: tuple[str, ...] = (), helps: dict[str, str] | None = None) -> None:
    """One command-line option per row of the option table (but those in
    `skip`). Each value is left unset unless given, so that a recipe's
    values apply under the ones given (and the table's defaults under both).
    `train` takes one typed value per option; `tune` (searchable) also takes
    lists and ranges. `helps`: an option's whole help text, where this
    command gives it another meaning than the table's."""
    defaults = config_class()
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    exclusive: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for opt in options(config_class).values():
        if (searchable and not opt.on_tune) or opt.name in skip:
            continue
        target = groups[opt.group]
        if opt.exclusive and not searchable:  # e.g. --iters or --epochs: one of them
            if opt.exclusive not in exclusive:
                exclusive[opt.exclusive] = target.add_mutually_exclusive_group()
            target = exclusive[opt.exclusive]
        default = getattr(defaults, opt.name)
        shown = "" if default is None else f" (default: {default})"
        help_text = (helps or {}).get(opt.name, opt.help + shown)
        if searchable and opt.searchable:
            choices = opt.choices()
            metavar = f"{{{','.join(choices)}}}" if choices else (opt.metavar or "true,false")
            forms = "a value, a list a,b,c or a range low:high[:log]" if opt.kind in (int, float) else (
                "a value or a list a,b,c")  # a range is of numbers (space.parse_value)
            target.add_argument(opt.flag, metavar=metavar, default=argparse.SUPPRESS,
                                help=f"{opt.help}; {forms}{shown}")
        elif opt.kind is bool:
            target.add_argument(opt.flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            target.add_argument(opt.flag, type=typed(opt), default=argparse.SUPPRESS, metavar=opt.metavar,
                                choices=opt.choices(), help=help_text)


def build_parser(config_class: type = TrainConfig) -> Parser:
    parser = Parser(prog="twolayer", description="Train and use a two-layer neural network on images, in NumPy.")
    parser.add_argument("--version", action="version", version=f"twolayer {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")  # none: parse_args says

    t = sub.add_parser("train", help="train a network and write a run folder",
                       description="Train a two-layer network; write model.npz, config.json, history.csv, "
                                   "metrics.json and a report into a run folder. The defaults train on any built-in "
                                   "dataset (digits unless --dataset names another); --recipe starts from a named "
                                   "set of options.")
    add_train_options(t, config_class, searchable=False)
    out = add_run_output(t)
    t.add_argument("--config", metavar="FILE.toml",
                   help="training options from a file, one `name = value` a line (Python names: lr_decay = 0.9); "
                        "the recipe's values apply under it and the command line's over it (default: none)")
    out.add_argument("--resume", metavar="RUN_DIR",
                     help="continue a run from its checkpoint, with its own config: an interrupted run to its "
                          "end, or any run (finished too) to a longer --epochs N or --iters N (default: none, a new "
                          "run)")

    c = sub.add_parser("check", help="check your own TwoLayerNet against the assignment (runs its code)",
                       description="Run the course assignment's checks on your own TwoLayerNet class, each on "
                                   "one line: construction, scores, loss, gradients, toy training, predict; a "
                                   "failed check says where to look. This IMPORTS FILE AND RUNS ITS CODE (in a "
                                   "child process, each check limited to --timeout seconds). With --dataset, "
                                   "a network that passes is then trained like twolayer train --net FILE, with "
                                   "the training options given.")
    c.add_argument("net", metavar="FILE.py[:CLASS]",
                   help="the file that defines the class (default class: TwoLayerNet, else the only class "
                        "with a loss method)")
    c.add_argument("--timeout", type=_positive_seconds, default=60.0, metavar="SECONDS",
                   help="time limit of each check (default: 60)")
    add_train_options(c, config_class, searchable=False, skip=("net",),
                      helps={"dataset": f"after the checks pass, train the network on this dataset ({SPEC_HELP}); "
                                        "the training options below apply only then (default: none, only the "
                                        "checks run)"})
    add_run_output(c)

    u = sub.add_parser("tune", help="search hyperparameters with Optuna",
                       description="Search training options on Optuna. Each option takes one value (fixed), a "
                                   "list a,b,c, or a range low:high[:log]; --space FILE.toml gives the same in a "
                                   "file; with none given a list or range, lr and reg are searched at a tenth, one "
                                   "and ten times their values. Run the same command again to continue an "
                                   "interrupted search.")
    add_train_options(u, config_class, searchable=True)
    s = u.add_argument_group("search")
    s.add_argument("--space", metavar="FILE.toml", help="search space file; command-line values win (default: none)")
    s.add_argument("--sampler", choices=SAMPLERS, default="grid",
                   help="how trials' values are chosen: every point of the grid, or drawn at random or by TPE "
                        "from the lists and ranges (default: grid)")
    s.add_argument("--trials", type=int, metavar="N",
                   help="trials to finish (default: the whole grid, or 20 for random/tpe)")
    s.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stops trials that lag the others (default: median)")
    s.add_argument("--jobs", type=int, default=1, metavar="N", help="worker processes on this machine (default: 1)")
    s.add_argument("--sampler-seed", type=int, default=0, metavar="N",
                   help="seed of the random/tpe sampler (default: 0)")
    s.add_argument("--storage", metavar="URL",
                   help="shared study database, e.g. postgresql://USER@HOST/DB (default: a journal file in --out)")
    s.add_argument("--study", metavar="NAME", help="study name (default: twolayer-DATASET; learner-DATASET with --net)")
    s.add_argument("--out", metavar="DIR", help="output folder (default: runs/STUDY)")
    s.add_argument("--quiet", action="store_true", help="no per-trial lines")
    s.add_argument("--force", action="store_true",
                   help="start afresh in --out even if it holds a search or a training run (twolayer's files there "
                        "are removed)")

    r = sub.add_parser("report", help="write report.html for a run or a search",
                       description="Write report.html (self-contained: plots, metrics, per-class accuracy, "
                                   "example predictions; for a search, the trials) and the PNG figures into "
                                   "a run folder or a tuning folder. train and tune do this at the end.")
    r.add_argument("folder", metavar="DIR", help="a run folder (or its model.npz) or a tuning folder")
    r.add_argument("--out", metavar="PAGE.html",
                   help="write the page alone here (its figures are embedded) and nothing into DIR, for a folder "
                        "you cannot or would not write in; - writes it to standard output (default: DIR/report.html, "
                        "with the figures as PNG files)")
    r.add_argument("--force", action="store_true", help="overwrite an existing --out file")

    e = sub.add_parser("evaluate", help="accuracy of a saved model on a dataset split",
                       description="Accuracy of a saved model on a dataset split. On the dataset the model was "
                                   "trained on, 'val' and 'test' are the images its run held out.")
    e.add_argument("model", metavar="MODEL", help="a run folder or its model.npz")
    e.add_argument("--dataset", metavar="SPEC",
                   help=f"dataset spec: {SPEC_HELP} (default: the dataset the model was trained on)")
    e.add_argument("--data-dir", metavar="DIR",
                   help="where dataset files are kept (default: env TWOLAYER_DATA, else the user cache; without "
                        "--dataset, the model's run's)")
    e.add_argument("--split", choices=workflow.SPLITS, default="test", help="which split (default: test)")
    e.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="predicted class of each image file",
                       description="Print the predicted class of each image file (resized to the model's input).")
    p.add_argument("model", metavar="MODEL", help="a run folder or its model.npz")
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files (PNG, JPEG, ...), folders of them, quoted glob patterns ('pics/*.jpg'), or - for "
                        "one image on standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")

    x = sub.add_parser("export", help="write a model as ONNX or a PyTorch state dict",
                       description="Write a model for other runtimes, its preprocessing folded into the first "
                                   "layer: the exported network takes raw pixel rows (0-255, each image "
                                   "flattened H x W x C). onnx: a graph giving class probabilities, the class "
                                   "names in its metadata; torch: a state dict for nn.Sequential(nn.Linear, "
                                   "nn.ReLU, nn.Linear), giving scores.")
    x.add_argument("model", metavar="MODEL", help="a run folder or its model.npz")
    x.add_argument("--format", choices=FORMATS, default="onnx",
                   help="onnx (a graph for ONNX Runtime and others) or torch (a PyTorch state dict) (default: onnx)")
    x.add_argument("--out", metavar="PATH", help="output file; - writes it to standard output (default: beside the "
                                                 "model: model.onnx, model.pt; model.fp16.onnx, model.fp16.pt with "
                                                 "--float16)")
    x.add_argument("--force", action="store_true", help="overwrite an existing output file")
    x.add_argument("--float16", action="store_true",
                   help="store the weights in half precision: half the file (an ONNX graph still takes and gives "
                        "float32)")
    h = sub.add_parser("help", help="show a command's help (as COMMAND --help does)",
                       description="Show the help of a command, as twolayer COMMAND --help does, or this list.")
    h.add_argument("topic", nargs="?", metavar="COMMAND",
                   help="the command to explain (default: the list of commands)")
    parser.commands = {"train": t, "check": c, "tune": u, "report": r, "evaluate": e, "predict": p, "export": x,
                       "help": h}
    return parser


def add_run_output(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    out = parser.add_argument_group("output")
    out.add_argument("--out", metavar="RUN_DIR", help="run folder (default: a new folder under runs/)")
    out.add_argument("--force", action="store_true", help="overwrite a run folder that already holds a run")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    return out


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def config_from_args(args: argparse.Namespace, config_class: type = TrainConfig) -> TrainConfig:
    """The recipe's values (if any), under the --config file's (if any),
    under the options given; validated (main names the options in its
    errors as they were written: flags, or the file's names)."""
    table = options(config_class)
    given = {k: v for k, v in vars(args).items() if k in table}
    from_file = config_file(args.config, config_class) if getattr(args, "config", None) else {}
    config = config_class(**with_recipe(table, from_file, given)).validate()  # main names a flag's errors as flags
    check_used({**from_file, **given}, lambda name: (getattr(config, name),))
    return config


def cmd_train(args: argparse.Namespace) -> int:
    if getattr(args, "resume", None):  # check --dataset trains here too, and has no --resume
        table = options(args.config_class)
        given = [name for name in vars(args) if name in table and name != "net"]
        others = [table[name].flag for name in given if not table[name].exclusive] + (["--config"] if args.config
                                                                                     else [])
        # the run goes on in its own folder: --out and --force were ignored without a word (--out OTHER left
        # OTHER empty and continued RUN)
        others += [flag for flag, value in (("--out", args.out), ("--force", args.force)) if value]
        if others:
            # where its data or arrays are may change: README's config.json edit, which the line did not name
            moved = [flag for flag in others if flag in ("--data-dir", "--device", "--dataset")]
            where = (" (for a run moved to its data or to another device, edit data_dir, device or an image "
                     f"folder's dataset in {Path(args.resume) / 'config.json'})" if moved else "")
            raise UsageError(f"--resume continues a run in its own folder, with its own config; only --epochs or "
                             f"--iters (and --net, naming a learner's run's file) may be given with it, not "
                             f"{', '.join(others)}{where}")
        length = {name: getattr(args, name) for name in given}
        net = getattr(args, "net", None)
        if net:
            workflow.confirm_resume_net(args.resume, net)  # refused before it is announced
            say(f"network: {label(net)}; its code runs in this process")
        return print_run(workflow.resume(args.resume, quiet=args.quiet, length=length, net=net), resumed=True)
    config = config_from_args(args, args.config_class)
    if config.net:
        say(f"network: {label(config.net)}; its code runs in this process")
    return print_run(workflow.train(config, args.out, force=args.force, quiet=args.quiet))


def cmd_check(args: argparse.Namespace) -> int:
    from twolayer.checks import print_checks, refuse_plain_faults

    given = [name for name in options(args.config_class) if hasattr(args, name) and name != "net"]
    # the run's folder too: --out without --dataset was ignored, the check exiting 0
    flags = [options(args.config_class)[n].flag for n in given] + [
        flag for flag, value in (("--out", args.out), ("--force", args.force)) if value]
    if flags and "dataset" not in given:
        raise UsageError(f"{', '.join(flags)}: training options need --dataset (check trains only when given a "
                         "dataset)")
    if given:
        config_from_args(args, args.config_class)  # a bad training option is said before any check runs
    refuse_plain_faults(args.net)
    say(f"checking {args.net}: importing it and running its code in a child process, "
        f"at most {args.timeout:g} s per check")
    if not print_checks(args.net, args.timeout):
        if "dataset" in given:  # asked to train: say that it did not
            say(f"not trained on {args.dataset}: it trains once every check passes")
        return 1
    return cmd_train(args) if "dataset" in given else 0


def print_run(result: workflow.TrainResult, resumed: bool = False) -> int:
    """What train prints about a finished run, and its report; the exit status."""
    m = result.metrics
    page, failed = write_report(result.run_dir, result.data, result.signum)
    if page is None:
        return failed
    say(f"run folder: {result.run_dir}")
    say(f"report: {page}")  # a path to open as it is (it said `report.html`, which is not one here)
    print(f"accuracy  train {_fmt(m['train_accuracy'])}  val {_fmt(m['val_accuracy'])}  "
          f"test {_fmt(m['test_accuracy'])}")
    if m["best_iteration"]:
        kept = f"kept the best validation epoch (iteration {m['best_iteration']})"
    else:  # --val-size 0 validates no epoch, however many completed; a stopped run's line says what it kept
        kept = ("no validation epoch completed" if m["n_val"] else "no validation split") + (
            "" if m["stopped_early"] else "; kept the last parameters")
    # a resumed run's seconds are of its resumed part: "56000 iterations in 26.2 s" was 14,000 of them
    took = f"{' in all; the resumed part' if resumed else ''} in {m['seconds']:.1f} s"
    print(f"{m['iterations']} iteration{'' if m['iterations'] == 1 else 's'}{took}; {kept}")
    if m.get("early_stop"):
        print(f"stopped early on purpose: {m['early_stop']}")
    if m["stopped_early"]:
        print(f"twolayer train: stopped early: {m['stopped_early']}", file=sys.stderr)
        return 3
    return 0


def write_report(run_dir: Path, data, signum: int | None = None) -> tuple[Path | None, int]:
    """(report.html, 0) for a finished run; or (None, exit status) after one
    line on stderr that says the run itself is finished and how to write its
    report, if writing it fails or a signal stops it (`signum`: one that came
    as the run's files were written)."""
    try:  # SIGTERM and SIGHUP interrupt it too: main's SignalsInterrupt is active
        if signum is not None:
            raise signals.Signalled(signum)
        from twolayer.report import report  # matplotlib's import: a second in which a signal may come

        return report(run_dir, data), 0
    except (KeyboardInterrupt, Exception) as e:  # noqa: BLE001 -- the run is safe; only its report is missing
        interrupted = isinstance(e, KeyboardInterrupt)
        signum = getattr(e, "signum", signal.SIGINT)  # SIGTERM is said as itself, not as Ctrl-C
        why = f"it was {signals.signal_words(signum)}" if interrupted else f"{type(e).__name__}: {e}"
        say(f"twolayer train: the run finished (its model and metrics are in {run_dir}) but its report was not "
            f"written ({' '.join(why.split())}); twolayer report {shell_word(run_dir)} writes it", sys.stderr)
        return None, 128 + signum if interrupted else 1


def folder_name(study: str) -> str:
    """The default folder's name for a study: its letters, digits, "_", "."
    and "-", anything else (a "/") a dash, never a name of "." or ".."."""
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in study)[-100:].strip("-.") or "search"


def cmd_tune(args: argparse.Namespace) -> int:
    from twolayer import tune
    from twolayer.space import build_space

    given = {name: getattr(args, name) for name in options(args.config_class) if hasattr(args, name)}
    data_dir = given.pop("data_dir", None)
    space = build_space(given, args.space, args.config_class)
    if data_dir:
        space.fixed["data_dir"] = data_dir
    dataset = space.fixed.get("dataset", args.config_class().dataset)
    net = space.fixed.get("net")
    prefix = "learner-" if net else "twolayer-"  # a learner's search never joins twolayer's own by default
    study = args.study or prefix + "".join(c if c.isalnum() else "-" for c in str(dataset))[-60:].strip("-")
    if net:
        say(f"network: {label(net)}; its code runs in this process")
    # the default folder is named after the study, never placed by it (--study ../../x was runs/../../x)
    opts = tune.TuneOptions(space=space, out=Path(args.out or Path("runs") / folder_name(study)), sampler=args.sampler,
                            trials=args.trials, jobs=args.jobs, storage=args.storage, study=study,
                            pruner=args.pruner, seed=args.sampler_seed, quiet=args.quiet,
                            force=args.force)
    try:
        result = tune.run(opts, start=lambda: say_default_space(space))
    except tune.TuneInterrupted as e:
        print_trials(e.result)
        raise
    print_trials(result)
    if result.best:
        values = ", ".join(f"{n} {cell(result.best[n])}" for n in space.dimensions)
        say(f"best: trial {result.best['trial']}, validation accuracy {result.best['val_accuracy']:.4f} "
            f"({values}){result.where_best()}")
    from twolayer.report import report

    if result.best_dir:
        report(result.best_dir)
    page = report(result.out)
    say(f"{len(result.rows)} trials in {result.seconds:.1f} s; table in {result.out / 'trials.csv'}, "
        f"report in {page}")
    if result.interrupted:
        print(f"twolayer tune: {result.interrupted} trial(s) failed or were interrupted; "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    if result.rows and not result.best:  # every trial diverged (or was pruned): exit 3, as a diverged run does
        print(f"twolayer tune: no best trial: {no_best(result.rows)}", file=sys.stderr)
        return 3
    return 0


def say_default_space(space) -> None:
    """What a search given nothing to search searches (said once its options are known to be good)."""
    if space.by_default:
        searched = " x ".join(f"{name} {dim.describe()}" for name, dim in space.dimensions.items())
        what = " and ".join({"lr": "the learning rate", "reg": "the L2 strength"}.get(name, name)
                           for name in space.dimensions)
        say(f"searching {searched}: nothing was given to search, so {what} at a tenth, one and ten times the "
            "run's value (give options lists a,b,c or ranges low:high to search others)")


def print_trials(result) -> None:
    headers = [c.replace("_accuracy", "") for c in result.columns]
    rows = [[cell(r[c], c) for c in result.columns] for r in sorted(result.rows, key=lambda r: r["trial"])]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    for line in [headers, *rows]:
        say("  ".join(text.rjust(w) for text, w in zip(line, widths, strict=True)))


def cmd_report(args: argparse.Namespace) -> int:
    from twolayer.report import report

    if args.out == "-":  # the page itself on standard output (a file named - is ./-), as predict reads - as stdin
        with tempfile.TemporaryDirectory(prefix="twolayer-report-") as folder:
            page = report(args.folder, out=Path(folder) / "report.html")
            sys.stdout.write_bytes(page.read_bytes())  # a Lasting stream (main)
        return 0
    say(report(args.folder, out=args.out, force=args.force))
    return 0


def note_if_training(command: str, model: str) -> None:
    """One note on stderr when `model` is a run folder's (or its model.npz)
    that a twolayer process is training in now, continuing the run: the
    model read is the one the folder holds until that process writes its
    new one (nothing said it; the numbers were taken for the new model's)."""
    run = runs.folder_of(model) if model else None
    if run is not None and (run / MODEL_FILE).is_file() and runs.in_use(run):
        say(f"twolayer {command}: note: {run} is in use: {runs.IN_USE}; this is the model it holds until that "
            "process writes its new one", sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    note_if_training("evaluate", args.model)
    result = workflow.evaluate(args.model, args.dataset, args.split, args.data_dir)
    if result.get("skipped"):
        say(f"twolayer evaluate: note: skipped {result['skipped']}", sys.stderr)
    if result.get("note"):
        say(f"twolayer evaluate: note: {result['note']}", sys.stderr)
    if args.json:
        print(json_line(result))
    else:
        say(f"{result['split']} accuracy {result['accuracy']:.4f} ({result['correct']}/{result['n']}) "
            f"on {result['dataset']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    note_if_training("predict", args.model)
    for row in workflow.predictions(args.model, args.images):  # each chunk's rows printed as it is scored
        if args.json:
            print(json_line(row))
        else:
            print(f"{shown(row['path'])}\t{shown(row['class'])}\t{row['probability']:.3f}")
    return 0


def cmd_help(args: argparse.Namespace) -> int:
    parser = build_parser(args.config_class)
    if args.topic and args.topic not in parser.commands:
        near = nearest(args.topic, list(parser.commands))
        parser.commands["help"].error(f"unknown command {args.topic!r}" + (f"; did you mean {near}?" if near else "")
                                      + f" (choose from {', '.join(parser.commands)})")
    (parser.commands[args.topic] if args.topic else parser).print_help()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.out == "-":  # the model on standard output (a file named - is ./-), as report --out - writes its page
        if sys.stdout.isatty():
            raise UsageError("--out - writes the model's bytes to standard output, which is a terminal here; "
                             f"redirect it (> model{SUFFIXES[args.format]}) or give a file name")
        with tempfile.TemporaryDirectory(prefix="twolayer-export-") as folder:
            done = export(args.model, args.format, Path(folder) / f"model{SUFFIXES[args.format]}",
                          float16=args.float16)
            sys.stdout.write_bytes(done.path.read_bytes())  # a Lasting stream (main)
        done.path = Path("standard output")
    else:
        done = export(args.model, args.format, args.out, force=args.force, float16=args.float16)
    note_if_training("export", args.model)
    d = done.input_size
    shape = "x".join(str(s) for s in done.image_shape)
    rows, n = f"raw pixel rows (N, {d}) of {shape} images, 0..255", len(done.class_names)
    stream = sys.stderr if args.out == "-" else sys.stdout  # standard output holds the model's bytes alone
    if done.format == "onnx":  # what to feed the graph, by name: onnxruntime wants it so
        say(f"wrote {done.path} (onnx opset {OPSET}, {done.dtype} weights): input {INPUT!r}, float32 {rows} -> "
            f"{OUTPUT!r} of {n} classes", stream)
    else:
        say(f"wrote {done.path} (torch, {done.dtype} weights): {rows} -> scores of {n} classes", stream)
    return 0


def _fmt(value: float | None) -> str:
    return cell(value, "accuracy")


COMMANDS = {"train": cmd_train, "check": cmd_check, "tune": cmd_tune, "report": cmd_report, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "export": cmd_export, "help": cmd_help}


def main(argv: list[str] | None = None, config_class: type = TrainConfig) -> int:
    """The command line. `config_class`: the option table to read (TrainConfig,
    or a subclass that declares more options)."""
    # a reader that goes away (`| head`) or no stdout at all loses nothing but output; SIGTERM and SIGHUP
    # (a closed terminal) stop any command as Ctrl-C does, with one line, and training saves a checkpoint
    # output that could not be written for another reason (> /dev/full) is said once the work is done: exit 1
    open_closed_standard_fds()
    with lasting_output() as (stdout, _), signals.SignalsInterrupt(), owner_rights():
        exiting = None
        try:
            code = _main(argv, config_class)
        except SystemExit as e:  # argparse's own: --help and --version (0), a refused option (2)
            exiting, code = e, e.code
        problem = lost(stdout)
        if problem and code in (0, None):
            words = sys.argv[1:] if argv is None else argv
            command = next((word for word in words if word in COMMANDS), "")
            code = _fail(command, f"error: {problem}; the command did its work, but what it printed from then on "
                                  "was lost", 1)
        if exiting is not None:
            raise SystemExit(code)
        return code


def _main(argv: list[str] | None, config_class: type) -> int:
    args = build_parser(config_class).parse_args(argv)
    args.config_class = config_class
    # The one error boundary: whatever the user can cause ends in one line on
    # stderr. Warnings (NumPy's overflow as a run diverges, Pillow's) are not
    # shown: the trainer and the readers say what went wrong in that line.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return COMMANDS[args.command](args)
        except TwolayerError as e:
            if isinstance(e, OptionError) and hasattr(args, e.name):  # given as a flag: named as one (--crop)
                e = e.as_flag()
            return _fail(args.command, f"{e.label}{e}", e.exit_code)
        except OSError as e:  # the operating system's: permissions, a full disk, a path too long, ...
            return _fail(args.command, f"error: {os_error(e)}", 1)
        except MemoryError:
            return _fail(args.command, f"error: out of memory; {_limited(', or ')}try a smaller --hidden-size or "
                                       "--batch-size", 1)
        except ImportError as e:  # a library that cannot be loaded: a broken install, or no room under ulimit -v
            return _fail(args.command, f"error: cannot load {e.name or 'a library'}: {e}{_limited(before='; ')}", 1)
        except KeyboardInterrupt as e:  # Ctrl-C, or Signalled: SIGTERM, SIGHUP
            signum = getattr(e, "signum", signal.SIGINT)
            notes = "".join(f" {note}" for note in getattr(e, "__notes__", ()))  # where: a learner's loop
            return _fail(args.command, signals.signal_words(signum) + notes, 128 + signum)


def _limited(after: str = "", before: str = "") -> str:
    """The likely cause where memory ran out, or a library could not be
    mapped, under an address-space limit (`ulimit -v`; it was said `out of
    memory; try a smaller --hidden-size` of the default network, or an
    ImportError traceback): 'this process may map at most 204.8 MB (ulimit
    -v): raise that limit' between `before` and `after`; '' without a limit."""
    limit = address_space_limit()
    return f"{before}this process may map at most {describe(limit)} (ulimit -v): raise that limit{after}" if limit \
        else ""


def _fail(command: str, message: str, code: int) -> int:
    who = f"twolayer {command}" if command else "twolayer"
    hint = "" if code >= 128 else _no_current_folder()  # a signal's line needs none
    say(f"{who}: {' '.join(message.split())}{hint}", sys.stderr)  # one line, whatever it holds
    return code


def _no_current_folder() -> str:
    """The cause of a failure in a current folder that was deleted under the
    shell (`mkdir d; cd d; rmdir ../d`): every relative path names nothing,
    and the error alone said `cannot make a run folder under runs: No such
    file or directory`, or for `--dataset folder:imgs` only `No such file or
    directory`."""
    try:
        os.getcwd()
    except FileNotFoundError:
        return ("; the current folder no longer exists (it was deleted or moved), so relative paths name nothing: "
                "cd to a folder that exists")
    return ""


def os_error(e: OSError) -> str:
    """An OSError as 'PATH: what happened' (both paths for a rename)."""
    paths = " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None)
    what = e.strerror or str(e)
    return f"{paths}: {what}" if paths else what

if __name__ == "__main__":
    sys.exit(main())
