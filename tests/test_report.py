"""Figures, report.html, and the page checked in a real browser (headless Chromium)."""

import json
import re
import shutil

import numpy as np
import pytest

from twolayer.cli import main
from twolayer.metrics import confusion_matrix, per_class_accuracy, smooth
from twolayer.plots import confusion_figure, save_png, weight_images

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
        save_png(fig, tmp_path / "c.png")
        assert (tmp_path / "c.png").stat().st_size < 2_000_000


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


def test_tune_report_in_a_real_browser(browser, tune_dir):
    browser.get((tune_dir / "report.html").resolve().as_uri())
    images = browser.execute_script(DECODED)
    assert {alt for alt, _ in images} >= {"heatmap", "search_history", "best history"}
    assert all(ok for _, ok in images)
