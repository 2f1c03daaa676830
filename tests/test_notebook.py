"""The walkthrough notebook runs end to end on a small subset, so it never rots."""

import re
from pathlib import Path

import nbformat
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "two_layer_net.ipynb"
SHARED_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-jpeg"


def small_image_folder(root: Path) -> str:
    """Ten classes of 32x32 colour images, each class a different mean colour:
    250 each, enough for the 1,000 training, 200 validation and 200 test images
    the test asks for."""
    rng = np.random.default_rng(0)
    for label in range(10):
        (root / f"class{label}").mkdir(parents=True)
        base = rng.integers(0, 256, size=3)
        for i in range(250):
            pixels = np.clip(base + rng.normal(0, 40, size=(32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"class{label}" / f"{i}.png")
    return f"folder:{root}"


def test_notebook_runs_end_to_end(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TWOLAYER_DATA", str(tmp_path / "cache"))
    data = f"folder:{SHARED_CIFAR}" if SHARED_CIFAR.is_dir() else small_image_folder(tmp_path / "images")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = (f"DATA = {data!r}\nTRAIN_SIZE = 1000\nVAL_SIZE = 200\nTEST_SIZE = 200\nITERS = 60\n"
                         f"TUNE_LR = '1e-3,1e-2'\nTUNE_REG = '0.3,0.4'\nOUT = {str(tmp_path / 'tune')!r}\n")
    loading = next(i for i, c in enumerate(nb.cells) if "X_train = " in c.source)
    nb.cells.insert(loading + 1, nbformat.v4.new_code_cell("print('classes in training:', len(set(y_train)))"))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = {i: "".join(o.get("text", "") for o in cell.get("outputs", [])) for i, cell in enumerate(nb.cells)
               if cell.cell_type == "code"}
    text = "\n".join(outputs.values())
    assert "difference in loss:" in text and "W1 max relative error" in text
    assert "FAIL  loss" in text and "(the 0.5 convention)" in text and "5 of 6 checks passed; fix loss first" in text
    assert "6 of 6 checks passed\n" in text
    # the first 1,000 of the folder's training images were its first classes (all airplanes on CIFAR-10)
    assert "train (1000, 3072)" in text and "classes in training: 10\n" in text
    assert "test accuracy of the best model:" in text
    pictures = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if "image/png" in o.get("data", {}))
    assert pictures >= 3  # history, weights, heatmap
    # fit(..., progress=True) draws tqdm's widget in Jupyter, not lines of text
    fit_cell = next(c for c in nb.cells if c.cell_type == "code" and "progress=True" in c.source)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in fit_cell.outputs)
    assert "\r" not in "".join(o.get("text", "") for o in fit_cell.outputs)
    assert (tmp_path / "tune" / "best" / "model.npz").is_file()


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def run_cells(*sources: str, path: Path) -> list[dict]:
    """Execute code cells in a fresh kernel (as a new user's notebook in `path`); the cells."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path)}}).execute()
    return nb.cells


def test_progress_in_a_notebook_without_ipywidgets_is_the_text_bar_without_a_warning(tmp_path):
    cells = run_cells(
        "import sys\nsys.modules['ipywidgets'] = None  # as if not installed: pip install twolayer alone",
        "import numpy as np\nfrom twolayer import TrainConfig, TwoLayerNet, fit\n"
        "rng = np.random.default_rng(0)\nX, y = rng.normal(size=(200, 8)).astype(np.float32), rng.integers(0, 3, 200)\n"
        "history = fit(TwoLayerNet(8, 16, 3, seed=0), X, y, X, y, TrainConfig(epochs=2), progress=True)",
        path=tmp_path)
    outputs = cells[1].outputs
    text = "".join(o.get("text", "") for o in outputs)
    # tqdm.auto warned "TqdmWarning: IProgress not found. Please update jupyter and ipywidgets" on stderr
    assert "Warning" not in text and "ipywidgets" not in text, text
    assert "100%" in text and all(o.get("name") == "stderr" for o in outputs), outputs


def shown_text(text: str) -> list[str]:
    """A stream's text as Jupyter shows it: a carriage return writes over its line from the start, an escape
    sequence (it has no cursor to move) shows as nothing."""
    lines = []
    for line in re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).split("\n"):
        shown = ""
        for part in line.split("\r"):
            shown = part + shown[len(part):]
        lines.append(shown)
    return lines


def test_text_bars_of_fits_in_two_threads_share_a_line_in_a_notebook(tmp_path):
    """Without ipywidgets, two fits in threads drew tqdm's nested bars, whose second line is reached by a
    newline and left by ESC[A, which Jupyter cannot do: each redraw added a line, hundreds of them."""
    cells = run_cells(
        "import sys\nsys.modules['ipywidgets'] = None  # as if not installed: pip install twolayer alone",
        "import numpy as np\nfrom concurrent.futures import ThreadPoolExecutor\n"
        "from twolayer import TrainConfig, TwoLayerNet, fit\n"
        "rng = np.random.default_rng(0)\n"
        "X, y = rng.normal(size=(2000, 300)).astype(np.float32), rng.integers(0, 3, 2000)\n"
        "def one(seed):\n"
        "    fit(TwoLayerNet(300, 300, 3, seed=seed), X, y, X[:100], y[:100], TrainConfig(epochs=30, seed=seed),\n"
        "        progress=True)\n"
        "with ThreadPoolExecutor(2) as pool:\n    list(pool.map(one, [0, 1]))", path=tmp_path)
    text = "".join(o.get("text", "") for o in cells[1].outputs if o.get("name") == "stderr")
    assert text.count("\r") > 10  # redrawn as it went
    lines = [line for line in shown_text(text) if line.strip()]
    assert len(lines) == 2 and all("100%" in line for line in lines), lines


def test_a_figure_is_shown_as_its_picture_without_matplotlib_inline(tmp_path):
    """A new user's cell ending in `plots.history_figure(history)` showed `<Figure size 1100x400 with 2 Axes>`:
    twolayer draws without pyplot, so Jupyter knew how to show its figures only after `%matplotlib inline`."""
    cells = run_cells(
        "import numpy as np\nfrom twolayer import TrainConfig, TwoLayerNet, fit, plots\n"
        "rng = np.random.default_rng(0)\nX, y = rng.normal(size=(200, 8)).astype(np.float32), rng.integers(0, 3, 200)\n"
        "history = fit(TwoLayerNet(8, 16, 3, seed=0), X, y, X, y, TrainConfig(epochs=2))",
        "plots.history_figure(history)", path=tmp_path)
    shown = [o for o in cells[1].outputs if o.output_type == "execute_result"]
    assert len(shown) == 1 and shown[0].data["image/png"], cells[1].outputs


def test_a_search_in_a_notebook_without_ipywidgets_warns_of_nothing(tmp_path):
    """optuna imports tqdm.auto, which in Jupyter without ipywidgets warned `TqdmWarning: IProgress not found.
    Please update jupyter and ipywidgets` on the cell's stderr, at the first tune.run."""
    cells = run_cells(
        "import sys\nsys.modules['ipywidgets'] = None  # as if not installed: pip install twolayer alone",
        "from pathlib import Path\nfrom twolayer import tune\nfrom twolayer.space import build_space\n"
        "space = build_space({'dataset': 'digits', 'lr': '0.01,0.1', 'epochs': '1'})\n"
        "result = tune.run(tune.TuneOptions(space=space, out=Path('search')))", path=tmp_path)
    text = "".join(o.get("text", "") for o in cells[1].outputs)
    assert "trial   1 complete" in text and "Warning" not in text and "ipywidgets" not in text, text
