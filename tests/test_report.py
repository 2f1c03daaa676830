"""Figures, report.html, and the page checked in a real browser (headless Chromium)."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_datasets import write_folder
from twolayer import files
from twolayer.cli import main
from twolayer.metrics import confusion_matrix, per_class_accuracy, smooth
from twolayer.plots import confusion_figure, png_bytes, weight_images
from twolayer.runs import HISTORY_COLUMNS

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


def test_confusion_matrix_and_per_class_accuracy_by_hand():
    # true 0,0,1,1,2 predicted 0,1,1,1,0: class 0 half right, class 1 all right, class 2 none
    cm = confusion_matrix(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    np.testing.assert_array_equal(cm, [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    acc = per_class_accuracy(cm)
    np.testing.assert_allclose(acc[:3], [0.5, 1.0, 0.0])
    assert np.isnan(acc[3])  # a class with no images has no accuracy


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(smooth(np.array([1.0, 3, 5, 7]), 2), [1, 2, 4, 6])
    np.testing.assert_allclose(smooth(np.array([1.0, 3]), 1), [1, 3])


def test_weight_images_rescale_each_unit():
    W1 = np.random.default_rng(0).normal(size=(4 * 4 * 3, 7)) * np.arange(1, 8)  # units of different scales
    images = weight_images(W1, (4, 4, 3), limit=5)
    assert images.shape == (5, 4, 4, 3) and images.dtype == np.uint8
    assert (images.reshape(5, -1).min(axis=1) == 0).all() and (images.reshape(5, -1).max(axis=1) == 255).all()
    # unit 2's weights, in image layout, keep their order
    unit = W1[:, 2].reshape(4, 4, 3)
    assert np.unravel_index(unit.argmax(), unit.shape) == np.unravel_index(images[2].argmax(), unit.shape)


def test_a_confusion_matrix_of_1000_classes_or_a_huge_name_stays_small(tmp_path):
    # 1,000 classes asked for a 552-inch figure (12 GB, the run was killed); a 20,000-character name for a
    # tight figure as wide (MemoryError)
    for names in ([f"c{i}" for i in range(1000)], ["n" * 20000, "b"]):
        fig = confusion_figure(np.eye(len(names), dtype=int), names, "t")
        assert max(fig.get_size_inches()) <= 40
        assert len(png_bytes(fig)) < 2_000_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    assert main(["train", "--out", str(out), "--quiet", "--epochs", "10"]) == 0
    return out


@pytest.fixture(scope="module")
def tune_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "tune"
    assert main(["tune", "--dataset", "digits", "--epochs", "5", "--lr", "1e-3,1e-2,30", "--reg", "0.01,0.1",
                 "--out", str(out), "--quiet"]) == 0
    return out


def test_run_report_is_self_contained(run_dir):
    page = (run_dir / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # every image is embedded
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for name in ("history", "weights", "confusion_val", "confusion_test"):
        assert (run_dir / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Per-class accuracy" in page and "Validation examples" in page


def test_a_run_folder_named_with_odd_bytes_gives_a_valid_utf8_page(run_dir, tmp_path):
    # a folder name's undecodable byte (\xff) was written raw: the page was not UTF-8; ESC and a
    # right-to-left override went into it as they were
    odd = tmp_path / "run\udcff\x1b[2J\u202e<b>"
    shutil.copytree(run_dir, odd)
    assert main(["report", str(odd)]) == 0
    page = (odd / "report.html").read_bytes().decode("utf-8")  # strict
    assert not {"\x1b", "\u202e", "\udcff"} & set(page)
    assert "run\\udcff\\x1b[2J\\u202e&lt;b&gt;" in page and "<b>" not in page


def test_report_command_and_bad_folder(run_dir, tmp_path, capsys):
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").is_file()
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "neither a finished run folder" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("cut", [
    lambda lines: [lines[0], lines[1].split(",")[0]],  # a row cut after its first cell: float(None) was a TypeError
    lambda lines: [lines[0], ",".join(lines[1].split(",")[:3])],  # cut before train_acc
    lambda lines: [lines[0].replace("loss", "los", 1), lines[1]],  # a column renamed
    lambda lines: [lines[0], lines[1].replace(lines[1].split(",")[2], "x", 1)],  # a loss that is not a number
])
def test_a_damaged_history_is_one_line_naming_the_file(run_dir, tmp_path, capsys, cut):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    history = run / "history.csv"
    history.write_text("\n".join(cut(history.read_text().splitlines())) + "\n")
    capsys.readouterr()
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"twolayer report: error: cannot read history {history}: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("row", [
    "9" * 400 + ",0.01,1.0,0.5,0.5,1.0,1.0",  # an iteration no run reaches: the figure's int-to-float OverflowError
    "1,0.01,-1e308,0.5,0.5,1e308,1.0",  # a negative loss: matplotlib's ticker could not span -1e308..1e308
    "1,0.01,1.0,7,0.5,1.0,1.0",  # an accuracy beyond 1
])
def test_a_history_holding_values_no_run_writes_is_one_line(run_dir, tmp_path, capsys, row):
    """Numbers a run never writes, in an edited history.csv, were drawn: a traceback from matplotlib."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    (run / "history.csv").write_text(",".join(HISTORY_COLUMNS) + "\n" + row + "\n")
    capsys.readouterr()
    assert main(["report", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"twolayer report: error: cannot read history {run / 'history.csv'}: line 2 has ") \
        and "where a run writes" in err and err.count("\n") == 1, err


def test_a_history_saved_by_a_spreadsheet_with_a_bom_and_crlf_is_read(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    history = run / "history.csv"
    history.write_bytes(b"\xef\xbb\xbf" + history.read_bytes().replace(b"\n", b"\r\n"))
    assert main(["report", str(run)]) == 0  # it was `line 2 has no iteration value`: the BOM was in its name


@pytest.mark.parametrize("table", ["history.csv", "trials.csv"])
@pytest.mark.parametrize("what", ["fifo", "zeros", "sparse"])
def test_a_fifo_or_dev_zero_in_place_of_a_table_is_one_line_not_a_hang(run_dir, tune_dir, tmp_path, capsys,
                                                                       monkeypatch, table, what):
    """A FIFO where history.csv or trials.csv belongs: report waited forever for a writer; /dev/zero
    linked there, or a sparse file of a terabyte, was read until the machine ran out of memory (the kernel
    killed it at 24 GB)."""
    folder = tmp_path / "folder"
    shutil.copytree(run_dir if table == "history.csv" else tune_dir, folder)
    (folder / table).unlink()
    if what == "fifo":
        monkeypatch.setattr(files, "FIFO_WAIT", 0.1)
        os.mkfifo(folder / table)
    elif what == "zeros":
        monkeypatch.setattr(files, "SMALL_FILE", 2**16)
        (folder / table).symlink_to("/dev/zero")
    else:
        with open(folder / table, "wb") as f:
            f.truncate(2**40)
    capsys.readouterr()
    assert main(["report", str(folder)]) == 1
    err = capsys.readouterr().err
    said = {"fifo": "a FIFO (named pipe) that nothing writes to", "zeros": "it holds more than 65.5 kB",
            "sparse": "needs about 1.1 TB of memory to read"}[what]
    assert f"{folder / table}: {said}" in err and err.count("\n") == 1, err


def test_tune_report_lists_trials_best_first(tune_dir):
    page = (tune_dir / "report.html").read_text()
    assert (tune_dir / "heatmap.png").is_file() and (tune_dir / "search_history.png").is_file()
    assert (tune_dir / "best" / "report.html").is_file()
    table = page[page.index("Trials, best first"):].split("</table>")[0]
    rows = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    column = rows[0].index("val_accuracy")
    shown = [float(r[column]) for r in rows[1:] if r[column] != "-"]
    assert len(shown) >= 4 and shown == sorted(shown, reverse=True)
    assert [r[column] for r in rows[1:]][-2:] == ["-", "-"]  # the diverged trials come last


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (installed by .ci/run)")
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND"):  # no network: the page must need none
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


DECODED = "return Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])"


def test_run_report_in_a_real_browser(browser, run_dir, tmp_path):
    browser.set_window_size(1280, 900)
    browser.get((run_dir / "report.html").resolve().as_uri())
    # what a person sees first: the headline's numbers, then the figures before any table
    assert browser.save_screenshot(str(tmp_path / "report.png")) and (tmp_path / "report.png").stat().st_size > 10_000
    first = browser.execute_script(
        "const h = document.querySelector('.headline').getBoundingClientRect();"
        "const img = document.querySelector('img.plot').getBoundingClientRect();"
        "const table = document.querySelector('table').getBoundingClientRect();"
        "return [h.top, h.bottom, img.top, table.top, window.innerHeight];")
    headline_top, headline_bottom, figure_top, table_top, height = first
    assert headline_bottom < height / 3 and figure_top < table_top
    assert browser.execute_script("return document.querySelector('details').open") is False  # the config, folded
    images = browser.execute_script(DECODED)
    assert len(images) >= 4 + 2  # four figures and some example images
    assert all(ok for _, ok in images), [alt for alt, ok in images if not ok]
    shown = dict(browser.execute_script(
        "return Array.from(document.querySelectorAll('td[data-key]')).map(e => [e.dataset.key, e.textContent])"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert float(shown[key]) == pytest.approx(metrics[key], abs=5e-5)
    assert int(shown["iterations"]) == metrics["iterations"]
    captions = browser.execute_script("return Array.from(document.querySelectorAll('figcaption'))"
                                      ".map(e => e.textContent)")
    assert captions and all(c.startswith("predicted ") for c in captions)


def test_the_report_shown_in_a_notebook_styles_only_itself(browser, run_dir, tmp_path):
    """HTML(report_path.read_text()) in Jupyter puts the page inside the notebook's own page, where its
    <style> applies to everything: its body and h2 rules squeezed and restyled the notebook around it."""
    notebook = tmp_path / "notebook.html"
    notebook.write_text("<!DOCTYPE html><html><body><h2 id='mine'>my notebook</h2><div id='out'></div></body></html>")
    browser.get(notebook.as_uri())
    browser.execute_script("document.getElementById('out').innerHTML = arguments[0]",
                           (run_dir / "report.html").read_text())
    looks = browser.execute_script(
        "const style = e => getComputedStyle(document.querySelector(e));"
        "return [style('body').maxWidth, style('#mine').borderBottomStyle, style('#out h2').borderBottomStyle];")
    assert looks == ["none", "none", "solid"]  # the notebook as it was; the report as it looks on its own


def test_a_report_of_class_names_of_200_characters_fits_the_window(browser, tmp_path, monkeypatch):
    # the per-class table's unbroken names widened the page past the window: the accuracies were off-screen
    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "cache"))
    write_folder(tmp_path / "long", classes=("a" * 200, "a" * 199 + "b", "b" * 200), n=6, size=(4, 4))
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'long'}", "--epochs", "1", "--out", str(run),
                 "--quiet"]) == 0
    browser.set_window_size(1280, 900)
    browser.get((run / "report.html").resolve().as_uri())
    wide, window = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= window
    cells = browser.execute_script("return Array.from(document.querySelectorAll('td.num'))"
                                   ".map(e => e.getBoundingClientRect().height)")
    assert cells and max(cells) < 4 * min(cells)  # a number is never broken across lines


LINES = ("return Array.from(document.querySelectorAll(arguments[0])).map(e => {const r = document.createRange();"
         "r.selectNodeContents(e); return [e.textContent, r.getClientRects().length]})")  # a line box per line


@pytest.mark.parametrize("report", ["run", "tune"])
def test_a_report_in_a_narrow_window_keeps_its_numbers_whole_and_fits_it(browser, run_dir, tune_dir, report):
    """At 400 pixels (a phone, a window beside the terminal) the headline's numbers broke in the middle
    (0.5 over 000, 1. over 1 over s) and the per-class and trials tables ran past the window's edge."""
    browser.set_window_size(400, 900)
    browser.get(((run_dir if report == "run" else tune_dir) / "report.html").resolve().as_uri())
    wide, window = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert window <= 420 and wide <= window  # a wide table scrolls inside its own box, not the page
    values = browser.execute_script(LINES, ".stat .value") + browser.execute_script(LINES, "td.num")
    assert values and [v for v in values if v[1] != 1] == []  # each number on one line


def test_tune_report_in_a_real_browser(browser, tune_dir):
    browser.get((tune_dir / "report.html").resolve().as_uri())
    images = browser.execute_script(DECODED)
    assert {alt for alt, _ in images} >= {"heatmap", "search_history", "best history"}
    assert all(ok for _, ok in images)


def _panels(fig):
    """(loss axes, accuracy axes) of a history figure, and the text each empty one shows."""
    loss, acc = fig.axes[:2]
    return loss, acc, [t.get_text() for t in loss.texts], [t.get_text() for t in acc.texts]


def test_history_figures_of_odd_runs_show_every_point_and_say_what_is_missing():
    """A run of one iteration drew its loss as a line of one point (nothing); a run stopped before
    its first evaluation drew empty axes around 0 with a legend; an evaluation after 5 of an epoch's
    14 iterations was drawn at epoch 1; 7,000 evaluations drew 7,000 markers, a smear."""
    from twolayer.plots import history_figure
    from twolayer.trainer import History

    one = History(loss=[4.2], lr=[0.01], eval_iteration=[1], train_acc=[0.1], val_acc=[0.1], train_loss=[3.6],
                  val_loss=[3.3], best_index=0)
    loss, acc, said, _ = _panels(history_figure(one, iters_per_epoch=14))
    assert not said and all(line.get_marker() == "o" for line in loss.lines + acc.lines)
    assert acc.lines[0].get_xdata()[0] == pytest.approx(1 / 14) and acc.get_xlabel() == "epoch"

    partial = History(loss=[4.0] * 5, lr=[0.01] * 5, eval_iteration=[5], train_acc=[0.2], val_acc=[0.2],
                      train_loss=[2.0], val_loss=[2.0], best_index=0)
    _, acc, _, _ = _panels(history_figure(partial, iters_per_epoch=14))
    assert acc.lines[0].get_xdata()[0] == pytest.approx(5 / 14)
    _, acc, _, _ = _panels(history_figure(partial))  # without the epoch's length: the iteration
    assert acc.lines[0].get_xdata()[0] == 5 and acc.get_xlabel() == "iteration"

    diverged = History(loss=[4.2], lr=[1000.0], stop_reason="loss exploded at iteration 2")
    loss, acc, said, told = _panels(history_figure(diverged, iters_per_epoch=14))
    assert loss.lines and not said and not acc.lines and not acc.get_legend() and "no evaluation" in told[0]
    loss, acc, said, told = _panels(history_figure(History(stop_reason="loss became nan at iteration 1")))
    assert not loss.lines and said == ["no iteration finished"] and "no evaluation" in told[0]

    n = 7000
    long = History(loss=[1.0] * n * 14, lr=[0.01] * n * 14, eval_iteration=list(range(14, 14 * n + 1, 14)),
                   train_acc=[0.9] * n, val_acc=[0.9] * n, train_loss=[0.1] * n, val_loss=[0.1] * n, best_index=0)
    loss, acc, _, _ = _panels(history_figure(long, iters_per_epoch=14))
    assert all(line.get_marker() in ("None", None, "") for line in loss.lines + acc.lines)
    assert acc.lines[0].get_xdata()[-1] == n


def test_a_search_over_ranges_draws_each_trial_as_a_point_not_a_grid_of_every_value(tmp_path):
    """A random search of 1,000 trials over lr and reg ranges drew a heatmap with a cell for every
    distinct value: a figure of 1,102 x 801 inches, and `report` (and tune's end) said 'out of memory;
    try a smaller --hidden-size'."""
    from twolayer.plots import heatmap_figure, tune_history_figure

    rng = np.random.default_rng(0)
    rows = [{"trial": i, "state": "complete" if i % 4 else "diverged", "lr": 10 ** rng.uniform(-12, -1),
             "reg": 10 ** rng.uniform(-6, 12), "val_accuracy": rng.uniform() if i % 4 else None} for i in range(1000)]
    fig = heatmap_figure(rows, "lr", "reg")
    assert max(fig.get_size_inches()) <= 10
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert sum(len(c.get_offsets()) for c in ax.collections) == 1000  # every trial, the diverged ones too
    assert len(png_bytes(fig)) < 1_000_000
    # a grid stays a grid of cells
    grid = [{"trial": i, "lr": lr, "reg": reg, "val_accuracy": 0.5} for i, (lr, reg) in
            enumerate((a, b) for a in (1e-3, 1e-2) for b in (0.1, 0.2, 0.3))]
    assert heatmap_figure(grid, "lr", "reg").axes[0].images
    # one trial: a point with its own tick; none with an accuracy: said so
    ax = tune_history_figure([{"trial": 0, "state": "complete", "val_accuracy": 0.9}]).axes[0]
    assert list(ax.get_xticks()) == [0]
    ax = tune_history_figure([{"trial": 0, "state": "diverged", "val_accuracy": None}]).axes[0]
    assert [t.get_text() for t in ax.texts] == ["none of the 1 trials has a validation accuracy"]


def test_report_says_what_a_folder_is_when_it_has_no_report(run_dir, tmp_path, capsys):
    """A run that has not finished, one that never started, a search killed before its summary, a
    file and a missing path were all 'neither a finished run folder nor a tuning folder'."""
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for name in ("config.json", "checkpoint.npz"):
        shutil.copy(run_dir / name, unfinished / name)
    unstarted = tmp_path / "unstarted"
    unstarted.mkdir()
    shutil.copy(run_dir / "config.json", unstarted / "config.json")
    search = tmp_path / "search"
    (search / "trials").mkdir(parents=True)
    (search / "study.journal").write_text("")
    cases = {unfinished: f"is a run that has not finished (a checkpoint.npz, no model.npz); finish it with: "
                         f"twolayer train --resume {unfinished}",
             unstarted: "is a run stopped before its first checkpoint, so there is nothing to report",
             search: "is a search that has not finished (no tune.json yet); run the same twolayer tune command",
             run_dir / "metrics.json": "is a file, not a run folder or a tuning folder",
             tmp_path / "nowhere": "nowhere: no such folder"}
    for path, said in cases.items():
        capsys.readouterr()
        assert main(["report", str(path)]) == 1
        err = capsys.readouterr().err
        assert said in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in unfinished.iterdir()) == ["checkpoint.npz", "config.json"]
    assert main(["report", str(run_dir / "model.npz")]) == 0  # as predict and evaluate take it
    assert capsys.readouterr().out == f"{run_dir / 'report.html'}\n"


def test_a_folder_that_cannot_be_written_is_one_line_and_out_writes_the_page_elsewhere(run_dir, tmp_path, capsys,
                                                                                      monkeypatch):
    """A read-only run folder said only 'RUN/history.png: Read-only file system', and there was no
    way to write its report anywhere else."""
    import errno

    from twolayer import files

    real = files.new_temporary

    def read_only(path, suffix):
        if path.parent == run_dir:
            raise OSError(errno.EROFS, "Read-only file system", str(run_dir))
        return real(path, suffix)

    monkeypatch.setattr(files, "new_temporary", read_only)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err == (f"twolayer report: error: {run_dir}/history.png: Read-only file system; the report was not "
                   "written; make it writable, then run it again, or write the page elsewhere: twolayer report "
                   f"{run_dir} --out PAGE.html\n"), err
    page = tmp_path / "pages" / "run.html"
    assert main(["report", str(run_dir), "--out", str(page)]) == 0
    text = page.read_text()
    assert text.count('<img class="plot"') == 4 and not re.search(r"(src|href)=\"(?!data:)", text)
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before  # nothing written in the folder
    capsys.readouterr()
    assert main(["report", str(run_dir), "--out", str(page)]) == 1  # never over a file without --force
    assert capsys.readouterr().err == f"twolayer report: error: {page} exists; pass --force to overwrite it\n"
    assert main(["report", str(run_dir), "--out", str(page), "--force"]) == 0
    assert main(["report", str(run_dir), "--out", str(tmp_path)]) == 1
    assert "is a folder; give a file name in it" in capsys.readouterr().err


def test_a_search_without_a_best_trial_says_why_and_an_unfinished_one_says_so(tune_dir, tmp_path, capsys):
    """Every trial diverged: the report's 'Best trial' was an empty table, the search history empty
    axes, and tune printed no word about a best trial. A pruned trial whose accuracy when it was
    stopped beat the best trial's was listed first under 'best first'. A search stopped by a signal
    was reported as if it had run every trial."""
    out = tmp_path / "diverged"
    assert main(["tune", "--dataset", "digits", "--lr", "1e30,1e31", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 3  # as a diverged run exits
    assert "no best trial: no trial completed (2 diverged)\n" in capsys.readouterr().err
    page = (out / "report.html").read_text()
    assert "<h2>Best trial</h2><p>none: no trial completed (2 diverged)</p>" in page

    search = Path(shutil.copytree(tune_dir, tmp_path / "search"))
    with open(search / "trials.csv", "a") as f:
        f.write("99,pruned,0.5,0.5,0.999,0.999,\n")
    summary = json.loads((search / "tune.json").read_text())
    # written as tune writes both files: the summary counts the table's rows
    (search / "tune.json").write_text(json.dumps({**summary, "finished": False, "owed": 1,
                                                  "trials": summary["trials"] + 1}))
    assert main(["report", str(search)]) == 0
    page = (search / "report.html").read_text()
    table = page[page.index("Trials, best first"):].split("</table>")[0]
    first = re.findall(r"<tr><td[^>]*>(\d+)</td>", table)[0]
    assert int(first) == summary["best"]["trial"]
    assert ('<p class="note">this search has not finished: 1 trial(s) failed or were interrupted; the same twolayer '
            "tune command continues it</p>") in page


def test_train_says_there_is_no_validation_split_not_that_no_epoch_completed(tmp_path, capsys):
    assert main(["train", "--val-size", "0", "--epochs", "2", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "no validation split; kept the last parameters" in printed and "epoch completed" not in printed


def test_the_report_of_a_run_on_resized_images_says_so(tmp_path, monkeypatch):
    """train says `images resized to 32x32 pixels from ...`; the report of the
    run (written by train, or again by report) showed the resized images
    without a word of it."""
    from test_datasets import write_folder

    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "data"))
    write_folder(tmp_path / "f" / "train", size=(8, 8))
    write_folder(tmp_path / "f" / "train", size=(10, 6), n=1)  # one image of each class of another size
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'f'}", "--epochs", "1", "--val-size", "2",
                 "--out", str(run), "--quiet"]) == 0
    said = "Images resized to 32x32 pixels from 2 sizes, 10x6 to 8x8."
    assert said in (run / "report.html").read_text()
    (run / "report.html").unlink()
    assert main(["report", str(run)]) == 0
    assert said in (run / "report.html").read_text()


def test_out_dash_writes_the_page_to_standard_output_and_no_file(run_dir, tmp_path, capsysbinary, monkeypatch):
    """`report RUN --out -` wrote a file named '-' in the current folder; - is standard output (./- a file)."""
    monkeypatch.chdir(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    assert main(["report", str(run_dir), "--out", "-"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"<!DOCTYPE html>") and out.count(b'<img class="plot"') == 4
    assert list(tmp_path.iterdir()) == [] and {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    assert main(["report", str(run_dir), "--out", "./-"]) == 0
    assert (tmp_path / "-").read_bytes().count(b'<img class="plot"') == 4


def test_a_run_whose_data_changed_since_is_reported_without_per_class_results_of_todays_images(tmp_path, capsys):
    """report re-reads a run's data: on a folder whose images changed since, it drew confusion matrices and
    per-class accuracies of today's images (carved into splits that may hold images the run trained on) beside
    the run's own accuracies, without a word."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate("abc"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(20):
            pixels = (rng.random((6, 6, 3)) * 80 + k * 80).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--dataset", f"folder:{tmp_path / 'imgs'}", "--epochs", "2", "--out", str(run),
                 "--quiet"]) == 0
    assert main(["report", str(run)]) == 0  # the same data: per-class results as train wrote them
    assert "Per-class accuracy" in (run / "report.html").read_text()
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(tmp_path / "imgs" / "a" / "0.png")
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "Per-class accuracy" not in page and "Confusion matrix" not in page
    assert "is not the data this run trained on" in page and f"twolayer evaluate {run}" in page
    # a run of an earlier twolayer, whose decoding of the same files may differ from today's: said as that
    # (it was said `its images differ` of a folder left as it was)
    from twolayer import bundles

    bundle = bundles.load_bundle(run)
    bundle.data_decoding = None
    bundles.save_bundle(run / "model.npz", bundle)
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "no longer gives the images this run trained on (the run was made by an earlier twolayer" in page, page
    assert "is not the data" not in page and "Per-class accuracy" not in page
