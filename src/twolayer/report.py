"""report.html: one self-contained page (images embedded, no script, no
external reference) that shows what a run or a search did, offline, in any
browser. The figures are also written beside it as PNG files.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from twolayer import bundles, plots, runs
from twolayer.config import TrainConfig, given_flag, options
from twolayer.data.fingerprint import decoded_otherwise, fingerprint
from twolayer.errors import DataError, TwolayerError, UsageError, WriteError
from twolayer.files import given_path, read_record, read_table, refuse_existing, write_making_folders
from twolayer.learner import label
from twolayer.metrics import confusion_matrix, per_class_accuracy
from twolayer.schema import ACCURACY, AMOUNT, COUNT, FLAG, TEXT, record_fault
from twolayer.schema import shown as cut
from twolayer.streams import shell_word, shown
from twolayer.trainer import epoch_length
from twolayer.tune import PRUNERS, SAMPLERS, cell, no_best, trial_columns
from twolayer.workflow import Prepared, folder_gone, prepare

REPORT = "report.html"
TITLES = {"history": "Loss and accuracy", "weights": "First-layer weights",
          "confusion_val": "Confusion matrix, validation", "confusion_test": "Confusion matrix, test",
          "search_history": "Search history", "heatmap": "Validation accuracy by option"}
EXAMPLES = 8  # right and wrong validation images shown
# a search's tune.json, and a row of its trials.csv, as tune.summarize writes them
SUMMARY = {"study": TEXT, "network": TEXT, "storage": TEXT, "sampler": SAMPLERS, "pruner": PRUNERS, "seconds": AMOUNT,
           "trials": COUNT, "owed": COUNT, "finished": FLAG}
TRIAL = {"trial": COUNT, "state": ("complete", "pruned", "diverged", "fail", "running"), "train_accuracy": ACCURACY,
         "val_accuracy": ACCURACY, "seconds": AMOUNT}

# Every rule is scoped to the page's own <main>: shown in Jupyter (HTML(page)) its styles apply to the
# whole notebook, and rules for body or h2 restyled the notebook around it.
R = ".twolayer-report"
STYLE = f"""
{R} {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
       overflow-wrap: anywhere; }}
{R} h1 {{ font-size: 1.6em; }} {R} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #ddd; }}
{R} table {{ border-collapse: collapse; margin: 0.5em 0; }}
{R} td, {R} th {{ padding: 3px 10px; border: 1px solid #ddd; }}
{R} th {{ background: #f4f4f4; text-align: left; }}
{R} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
{R} td.num, {R} th {{ overflow-wrap: normal; }} /* a long name breaks anywhere, a number or a heading's word never */
{R} img.plot {{ max-width: 100%; }} {R} .examples {{ display: flex; flex-wrap: wrap; gap: 10px; }}
{R} figure {{ margin: 0; text-align: center; font-size: 0.85em; max-width: 12em; }}
{R} figure img {{ width: 64px; height: 64px; image-rendering: pixelated; border: 2px solid #ccc; }}
{R} figure.wrong img {{ border-color: #c33; }} {R} figure.right img {{ border-color: #3a3; }}
{R} .headline {{ display: flex; flex-wrap: wrap; gap: 0.5em 2.5em; margin: 1em 0; }}
{R} .stat {{ display: flex; flex-direction: column; overflow-wrap: normal; }} /* in a narrow window a stat goes */
{R} .stat .value {{ font-size: 2em; font-weight: 600; white-space: nowrap; }} /* below, never its number in two */
{R} .stat .label {{ color: #666; }}
{R} .wide {{ overflow-x: auto; }} /* a table wider than the window scrolls in its own box, the page stays put */
{R} .note {{ color: #a60; }}
{R} details summary {{ cursor: pointer; font-size: 1.2em; margin-top: 1.6em; }}
"""


def report(path: str | Path, data: Prepared | None = None, out: str | Path | None = None,
           force: bool = False) -> Path:
    """Write report.html and the figures' PNG files into a run folder (or
    its model.npz's) or a tuning folder; or, with `out`, the page alone
    there (its figures are embedded), nothing written in the folder (one
    that cannot be written, someone else's). Return the page's path.
    Anything else is one line saying what it is and what to do (a run or
    search that has not finished: how to finish it)."""
    path = given_path(path, "the path to report", "give a run folder (or its model.npz) or a tuning folder",
                      TwolayerError)
    force = given_flag(force, "force")
    if not (data is None or isinstance(data, Prepared)):  # an AttributeError (`'str' object has no attribute 'y'`)
        raise UsageError(f"data must be the run's Prepared data (workflow.prepare(config)), or None to load it "
                         f"again, got {type(data).__name__}")
    if path.name == bundles.MODEL_FILE and path.is_file():  # a run's model, as predict and evaluate take it
        path = path.parent
    runs.recover(path)  # a --force run or search killed before it started: the one it replaced is back
    search, run = (path / "tune.json").is_file(), (path / bundles.MODEL_FILE).is_file()
    if run and not (path / "metrics.json").is_file() and (path / bundles.CHECKPOINT_FILE).is_file():
        run = False  # stopped as it wrote its last files (kill -9): --resume finishes it
    if not (search or run):
        raise TwolayerError(_not_reportable(path))
    page = None if out is None else _page_path(given_path(out, "--out", "give the page's file name"), force)
    return tune_report(path, page, force) if search else run_report(path, data, page, force)


def _page_path(out: Path, force: bool) -> Path:
    """--out, checked before any work: a file name, not a file there already (unless force)."""
    if out.is_dir():
        raise TwolayerError(f"--out {out} is a folder; give a file name in it, e.g. {out / REPORT}")
    if not force:
        refuse_existing(out)
    return out


def _not_reportable(path: Path) -> str:
    """Why `path` (no model.npz, no tune.json in it) has no report, and what to do."""
    if not path.exists():
        return f"{path}: no such folder; give a run folder or a tuning folder"
    if not path.is_dir():
        return f"{path} is a file, not a run folder or a tuning folder"
    if runs.in_use(path):  # a run or search under way: not one to finish by hand
        return f"{path} has no report yet: {runs.IN_USE}, and writes its report when it finishes"
    kind = runs.kind_of(path)
    if kind == "search":
        return (f"{path} is a search that has not finished (no tune.json yet); run the same twolayer tune command "
                "again to finish it, which writes its report")
    begun = runs.not_begun(path, "there is nothing to report")
    if begun:
        return begun
    odd = bundles.misplaced_file(path)
    if odd:
        return odd
    if (path / bundles.CHECKPOINT_FILE).is_file():
        missing = "metrics.json" if (path / bundles.MODEL_FILE).is_file() else bundles.MODEL_FILE
        return (f"{path} is a run that has not finished (a {bundles.CHECKPOINT_FILE}, no {missing}); "
                f"finish it with: {runs.resume_command(path)}, which writes its report")
    return f"{path} is neither a finished run folder (model.npz) nor a tuning folder (tune.json)"


# -- a training run ---------------------------------------------------------------------


def run_report(run_dir: Path, data: Prepared | None = None, page: Path | None = None, force: bool = False) -> Path:
    bundle, metrics, history = _read_run(run_dir)
    config = TrainConfig.from_dict(bundle.config)
    changed = None
    if data is None:  # the model's own preprocessing, never refitted
        try:
            data = prepare(config, quiet=True, preprocessor=bundle.preprocessor)
        except DataError as e:  # a run copied or moved without its data: the page of what the run holds
            why = ("is no longer there (moved or deleted?)" if folder_gone(config.dataset) else
                   f"cannot be read here ({str(e).splitlines()[0]})")
            changed = (f"The run's data, {config.dataset}, {why}, so its per-class results and examples are left "
                       "out; the accuracies are the run's own")
        else:
            changed = _data_changed(bundle, data, run_dir)
    names = bundle.class_names
    n_train = len(data.y["train"]) if data is not None else metrics.get("n_train")  # as the run counted them
    known = isinstance(n_train, int) and not isinstance(n_train, bool) and n_train > 0
    figures = {"history": plots.history_figure(history, epoch_length(config, n_train) if known else None)}
    W1 = np.asarray(bundle.net.params["W1"])
    shape = tuple(bundle.image_shape)
    if W1.shape[0] == int(np.prod(shape)) and shape[-1] in (1, 3) and len(shape) == 3:
        figures["weights"] = plots.weights_figure(W1, shape)
    confusions: dict[str, np.ndarray] = {}
    predictions: dict[str, np.ndarray] = {}
    for split in ("val", "test") if data is not None else ():
        labels = data.y[split]
        if len(labels) == 0 or changed:  # today's images are not the run's: no per-class results of them
            continue
        # data.X: these images preprocessed the bundle's way (by train, or just above)
        predictions[split] = bundle.net.predict(data.X[split])
        confusions[split] = confusion_matrix(labels, predictions[split], len(names))
        figures[f"confusion_{split}"] = plots.confusion_figure(confusions[split], names, f"Confusion matrix ({split})")
    parts = [_run_headline(metrics), *([f'<p class="note">{_h(changed)}</p>'] if changed else []),
             *(_resized(data.dataset) if data is not None else []), *_figures(figures, run_dir, page),
             _table("Metrics", _metric_rows(metrics))]
    if confusions:
        parts += _per_class(confusions, np.bincount(data.y["train"], minlength=len(names)), names)
    if "val" in predictions:
        parts.append(_examples(data.raw["val"], predictions["val"], names))
    parts.append(_collapsed(_table("Config", _config_rows(bundle.config), ["option", "value", "what it is"],
                                   keyed=True), "Config: every option of the run"))
    title = f"twolayer run: {run_dir.name}" + (f", {label(config.net)}" if config.net else "")
    return _write(run_dir, page, title, parts, force)


def _read_run(run_dir: Path) -> tuple[bundles.Bundle, dict[str, Any], Any]:
    """A finished run's model, metrics and history, read as one: refused
    while a twolayer process holds the folder, before or after they are
    read. A run continued (--resume --epochs) or replaced (--force) as they
    were read gave a page of one model's figures beside another's metrics,
    or `metrics.json is missing` as its files moved aside; and one
    continued after the page was written left it beside the new model."""
    try:
        read = (bundles.load_bundle(run_dir), runs.read_metrics(run_dir / "metrics.json"),
                runs.read_history_csv(run_dir / "history.csv"))
    except TwolayerError:
        if runs.in_use(run_dir):
            raise TwolayerError(_in_use(run_dir)) from None
        raise
    if runs.in_use(run_dir):
        raise TwolayerError(_in_use(run_dir))
    return read


def _in_use(run_dir: Path) -> str:
    return (f"{run_dir} cannot be reported now: {runs.IN_USE}, and writes its model, metrics and report anew "
            "when it finishes; wait for it")


def _data_changed(bundle: bundles.Bundle, data: Prepared, run_dir: Path) -> str | None:
    """Why the per-class results are left out, where the run's data has
    changed since it trained (the bundle records its fingerprint): they
    would be today's images, carved into splits that may hold images the
    run trained on, beside the run's own accuracies."""
    if bundle.data_fingerprint is None or bundle.data_fingerprint == (data.fingerprint or fingerprint(data.dataset)):
        return None
    spec = str(bundle.config.get("dataset"))
    otherwise = decoded_otherwise(spec, bundle.data_decoding, "the run")  # the same files, perhaps, read otherwise
    what = f"{spec} no longer gives the images this run trained on ({otherwise})" if otherwise else \
        f"The data {spec} gives today is not the data this run trained on (its images or labels differ)"
    return (f"{what}, so its per-class results and examples are left out; the accuracies are the run's own. To "
            f"score the model on today's data: twolayer evaluate {shell_word(run_dir)}")


def _run_headline(metrics: dict[str, Any]) -> str:
    """The numbers people open a report for, first."""
    items = [("test accuracy", cell(metrics.get("test_accuracy"), "accuracy")),
             ("validation accuracy", cell(metrics.get("val_accuracy"), "accuracy")),
             ("time", _seconds(metrics.get("seconds"))), ("iterations", cell(metrics.get("iterations")))]
    note = metrics.get("early_stop") or metrics.get("stopped_early")
    return _headline(items, str(note) if note else None)


def _resized(dataset) -> list[str]:
    """The note that a folder's images were resized, as train says it (the
    examples and weights show them at the network's size)."""
    if not dataset.resized_from:
        return []
    h, w = dataset.image_shape[:2]
    return [f'<p class="note">{_h(f"Images resized to {w}x{h} pixels from {dataset.resized_from}.")}</p>']


def _seconds(value: Any) -> str:
    """A duration as shown in a headline; "-" for what is not a number (a hand-edited file's)."""
    return f"{value:.1f} s" if _is_number(value) and not isinstance(value, (str, bool)) else "-"


def _headline(items: list[tuple[str, str]], note: str | None = None) -> str:
    stats = "".join(f'<div class="stat"><span class="value">{_h(value)}</span>'
                    f'<span class="label">{_h(label)}</span></div>' for label, value in items)
    extra = f'<p class="note">{_h(note)}</p>' if note else ""
    return f'<div class="headline">{stats}</div>{extra}'


def _figures(figures: dict[str, Any], folder: Path, page: Path | None) -> list[str]:
    """Each figure embedded in the page, and saved as PNG in the folder
    beside its report.html (not when the page goes elsewhere)."""
    parts = []
    for name, fig in figures.items():
        png = plots.png_bytes(fig)
        if page is None:
            _put(folder / f"{name}.png", png, folder, page)
        parts.append(f'<h2>{TITLES[name]}</h2><img class="plot" alt="{name}" src="{_png_uri(png)}">')
    return parts


def _collapsed(section: str, summary: str) -> str:
    return f"<details><summary>{_h(summary)}</summary>{section}</details>"


def _config_rows(config: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(option, value, what it is) in the option table's order; keys the
    table does not know (from another version) last."""
    table = options()
    known = [(name, config[name], opt.help) for name, opt in table.items() if name in config]
    return known + [(key, config[key], "") for key in sorted(config) if key not in table]


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(key, metrics[key]) for key in sorted(metrics)]


def _per_class(confusions: dict[str, np.ndarray], trained: np.ndarray, names: list[str]) -> list[str]:
    """Each class's training images, and its images and accuracy in each
    split ("-" where it has none: a carve is not stratified, so a small class
    may be missing from a split, or from training); with more classes than
    the confusion figures count in their cells, the most frequent confusions
    tabled, and the long table folded away."""
    splits = list(confusions)
    counts = {s: confusions[s].sum(axis=1) for s in splits}
    accuracy = {s: per_class_accuracy(confusions[s]) for s in splits}
    rows = [[_h(c), int(trained[i]), *(v for s in splits for v in
                                       (int(counts[s][i]), "-" if counts[s][i] == 0 else f"{accuracy[s][i]:.4f}"))]
            for i, c in enumerate(names)]
    headers = ["class", "train images", *(h for s in splits for h in (f"{s} images", f"{s} accuracy"))]
    table = _table("Per-class accuracy", rows, headers, raw=True)
    if len(names) <= plots.COUNTED:
        return [table]
    parts = [_confusions(confusions[s], names, s) for s in splits]
    return [*parts, _collapsed(table, f"Per-class accuracy: {len(names):,} classes")]


CONFUSIONS = 20  # (true, predicted) pairs a report tables for a confusion matrix too large to count in its cells


def _confusions(confusion: np.ndarray, names: list[str], split: str) -> str:
    """The most frequent wrong predictions of a split, most first."""
    wrong = confusion.copy()
    np.fill_diagonal(wrong, 0)
    cells = np.argsort(-wrong, axis=None, kind="stable")[:CONFUSIONS]
    rows = [[_h(f"{names[i]} ({i})"), _h(f"{names[j]} ({j})"), int(wrong[i, j])]
            for i, j in zip(*np.unravel_index(cells, wrong.shape), strict=True) if wrong[i, j]]
    title = f"Most frequent confusions ({split})"
    if not rows:
        return f"<h2>{_h(title)}</h2><p>none: every {split} image was predicted right</p>"
    return _table(title, rows, ["true class (index)", "predicted (index)", "images"], raw=True)


def _examples(split: tuple[np.ndarray, np.ndarray], predicted: np.ndarray, names: list[str]) -> str:
    images, labels = split
    parts = ["<h2>Validation examples</h2>"]
    for kind, mask in (("right", predicted == labels), ("wrong", predicted != labels)):
        rows = np.flatnonzero(mask)  # spread over the split: an image folder's keeps one class after another
        rows = rows[np.linspace(0, len(rows), EXAMPLES, endpoint=False).astype(int)] if len(rows) > EXAMPLES else rows
        figures = []
        for i in rows:
            caption = _h(f"predicted {names[predicted[i]]}")
            if kind == "wrong":
                caption += "<br>" + _h(f"true {names[labels[i]]}")
            figures.append(f'<figure class="{kind}"><img alt="{kind} {i}" src="{_image_uri(images[i])}">'
                           f"<figcaption>{caption}</figcaption></figure>")
        parts.append(f"<h3>{kind.capitalize()} ({int(mask.sum())} of {len(labels)})</h3>"
                     f'<div class="examples">{"".join(figures) or "none"}</div>')
    return "".join(parts)


# -- a search -----------------------------------------------------------------------------------


def tune_report(out: Path, page: Path | None = None, force: bool = False) -> Path:
    summary = read_record(out / "tune.json", "a search's summary")
    space = summary.get("space")
    if not (isinstance(space, dict) and isinstance(space.get("dimensions"), dict)
            and isinstance(space.get("fixed"), dict) and isinstance(summary.get("best", {}), (dict, type(None)))):
        raise TwolayerError(f"{out / 'tune.json'} is not a search's summary: it has no space with dimensions and "
                            "fixed values, or a best trial that is not a mapping")
    rows = read_trials_csv(out / "trials.csv", trial_columns(list(space["dimensions"])))
    fault = _summary_fault(summary, rows)
    if fault:  # shown as it stood: a pruner of 1e308, a best trial whose state is inf
        raise TwolayerError(f"{out / 'tune.json'} is not a search's summary: {fault}; run the same twolayer tune "
                            "command again to write it anew")
    searched = list(summary["space"]["dimensions"])
    numeric = [n for n in searched if all(isinstance(r.get(n), (int, float)) for r in rows if r.get(n) is not None)]
    figures = {"search_history": plots.tune_history_figure(rows)}
    if len(numeric) >= 2:
        x, y = ("lr", "reg") if {"lr", "reg"} <= set(numeric) else (numeric[0], numeric[1])
        figures["heatmap"] = plots.heatmap_figure(rows, x, y)
    images_html = _figures(figures, out, page)
    # complete trials first: a pruned trial's accuracy is its epoch's when it was stopped, never the best trial's
    ranked = sorted(rows, key=lambda r: (r.get("state") != "complete", r.get("val_accuracy") is None,
                                         -(r.get("val_accuracy") or 0)))
    columns = trial_columns(searched)
    table = [[_h(cell(r.get(c), c)) for c in columns] for r in ranked]
    sections = [
        _table("Search", [(k, summary.get(k))
                          for k in ("study", "network", "storage", "sampler", "pruner", "trials", "seconds")]
               + [("searched", json.dumps(summary["space"]["dimensions"])),
                  ("fixed", json.dumps(summary["space"]["fixed"]))]),
        _table("Best trial", sorted(summary["best"].items())) if summary.get("best") else
        f"<h2>Best trial</h2><p>none: {_h(no_best(rows))}</p>",
        _table("Trials, best first", table, columns, raw=True),
    ]
    best_plot = out / "best" / "history.png"
    if best_plot.is_file():
        images_html.append(f'<h2>Best trial\'s training</h2><img class="plot" alt="best history" '
                           f'src="{_png_uri(best_plot.read_bytes())}">')
    best = summary.get("best") or {}
    headline = _headline([("best validation accuracy", cell(best.get("val_accuracy"), "accuracy")),
                          ("best trial", cell(best.get("trial"))), ("trials", cell(summary.get("trials"))),
                          ("time", _seconds(summary.get("seconds")))], _unfinished(summary))
    learner = summary["space"]["fixed"].get("net")
    title = f"twolayer search: {summary.get('study')}" + (f", {label(learner)}" if learner else "")
    return _write(out, page, title, [headline, *images_html, sections[2], sections[1],
                               _collapsed(sections[0], "Search settings")], force)


def _unfinished(summary: dict[str, Any]) -> str | None:
    """The headline's note for a search that was stopped, or has trials to run again (tune.json's record)."""
    if summary.get("finished") is not False:  # a summary from before it was recorded says nothing
        return None
    owed = summary.get("owed")
    why = f": {owed} trial(s) failed or were interrupted" if isinstance(owed, int) and owed > 0 else ""
    return f"this search has not finished{why}; the same twolayer tune command continues it"


def read_trials_csv(path: Path, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """The trials table; one line naming the file if it is not one (with
    `columns`: the columns a search of its space writes, each row's numbers
    numbers and its state text)."""
    try:
        reader = csv.DictReader(io.StringIO(read_table(path, "a search's trials table"), newline=""))
        rows, lines = [], []
        for row in reader:  # cells a row lacks are None, those beyond its header listed under None
            if None in row or None in row.values():
                raise TwolayerError(f"{path} is not a trials table: line {reader.line_num} has "
                                    f"{'more' if None in row else 'fewer'} cells than its header")
            rows.append({k: _number(v) for k, v in row.items()})
            lines.append(reader.line_num)
        found = reader.fieldnames or []
    except OSError as e:  # a FIFO in its place waited forever for a writer
        raise TwolayerError(f"cannot read {path}: {e.strerror or e}") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise TwolayerError(f"cannot read {path}: {e}") from None
    missing = [c for c in columns or [] if c not in found]
    if missing:
        raise TwolayerError(f"{path} is not a trials table of this search: it has no column {missing[0]!r}")
    table, seen = options(), set()
    for line, row in zip(lines, rows if columns else [], strict=False):  # without columns: none checked
        fault = record_fault(row, TRIAL, "a search") or _value_fault(row, table)
        if fault is None and row.get("trial") is None:
            fault = "it has no trial number"
        if fault is None and row["trial"] in seen:
            fault = f"trial {row['trial']} has a row above"
        if fault:  # it was shown as it stood: an accuracy of nan or 1.5, a state of -1, an lr of -inf
            raise TwolayerError(f"{path} is not a trials table: line {line}: {fault}")
        seen.add(row["trial"])
    return rows


def _value_fault(values: dict[str, Any], table: dict) -> str | None:
    """Why a number for an option (a trials row's searched value, a search's fixed one) is none the option
    takes (None if each is one; text is the option's own spelling, as trials.csv holds it)."""
    for name, value in values.items():
        if name in table and isinstance(value, (int, float)) and table[name].kind is not bool:
            try:
                table[name].check(value)
            except ValueError as e:  # "lr must be > 0, got -inf"
                return str(e)
    return None


def _summary_fault(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str | None:
    """Why tune.json's values are not those tune writes: each of its kind,
    and its best trial the trials table's row of that trial, as shown."""
    fault = record_fault(summary, SUMMARY, "a search") or _value_fault(summary["space"]["fixed"], options())
    if fault is None and summary.get("trials") not in (None, len(rows)):  # both written at once, by summarize
        return f"it counts {summary['trials']} trials, and trials.csv lists {len(rows)}"
    best = summary.get("best")
    if fault is None and best:
        row = next((r for r in rows if r.get("trial") == best.get("trial")), None)
        if row is None:
            return f"its best trial {cut(best.get('trial'))} has no row in trials.csv"
        differ = [k for k in best if cell(best[k], k) != cell(row.get(k), k)]
        if differ:
            key = differ[0]
            return f"its best trial's {key} is {cut(best[key])}, and {cut(row.get(key))} in trials.csv"
    return fault


# -- page pieces ---------------------------------------------------------------------------------


def _table(title: str, rows, headers: list[str] | None = None, raw: bool = False, keyed: bool = False) -> str:
    """An HTML table. Without headers (or with keyed=True) it is a key/value
    table whose value cells carry their key as data-key, for tests and tools."""
    head = "".join(f"<th>{_h(h)}</th>" for h in headers) if headers else ""
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            column = headers[i] if headers else str(row[0])
            text = value if raw else _h(cell(value, column))
            attrs = ' class="num"' if isinstance(value, (int, float)) or (raw and _is_number(value)) else ""
            if (keyed or not headers) and i == 1:
                attrs += f' data-key="{_h(str(row[0]))}"'
            cells.append(f"<td{attrs}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows = f"<tr>{head}</tr>" if head else ""
    return f'<h2>{_h(title)}</h2><div class="wide"><table>{rows}{"".join(body)}</table></div>'


def _h(text: Any) -> str:
    """Text from outside (a class name, a folder's name) as the page shows it
    literally: markup escaped, and what repr escapes (control characters, a
    right-to-left override, a file name's undecodable bytes, which made the
    page invalid UTF-8) written as repr writes it (`streams.shown`)."""
    return html.escape(shown(text))


def _is_number(text: Any) -> bool:
    try:
        float(text)
        return True
    except (TypeError, ValueError):
        return False


def _number(text: str) -> Any:
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _image_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, "PNG")
    return _png_uri(buffer.getvalue())


def _write(folder: Path, page: Path | None, title: str, parts: list[str], force: bool = False) -> Path:
    """The page: report.html in the folder, or `page` (a new file unless force)."""
    text = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_h(title)}</title>'
            f'<style>{STYLE}</style></head><body><main class="{R[1:]}"><h1>{_h(title)}</h1>'
            f"{''.join(parts)}</main></body></html>\n")
    where = page or folder / REPORT
    _put(where, text.encode("utf-8"), folder, page, replace=page is None or force)
    return where


def _put(path: Path, data: bytes, folder: Path, page: Path | None, replace: bool = True) -> None:
    """Write one of the report's files (making --out's missing folders); a
    full or read-only disk is one line saying what to do: for the folder's
    own report, --out writes the page elsewhere. `replace` False: a file
    there by then is refused (write_making_folders)."""
    try:
        write_making_folders(path, lambda f: f.write(data), replace)
    except OSError as e:
        elsewhere = f"twolayer report {shell_word(folder)} --out PAGE.html"
        then = "run the same command again" if page else f"run it again, or write the page elsewhere: {elsewhere}"
        raise WriteError(e, "the report was not written", then) from None
