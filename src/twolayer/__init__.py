"""twolayer: a two-layer neural network for image classification, from
scratch in NumPy, with a trainer, a command line and saved models."""

__version__ = "0.1.0"

import os as _os  # noqa: E402
import sys as _sys  # noqa: E402


def _leave_the_current_folder_off_the_path() -> None:
    """`python -m twolayer` puts the current folder first on sys.path, so a
    file there named like a module twolayer imports (numpy.py, csv.py, an
    experiment saved as optuna.py) was imported in its place: a traceback
    from deep inside, or the file's own code run. While -m looks for the
    module, sys.argv[0] is "-m": then, where the module is twolayer's, the
    folder is taken off the path, as -P (PYTHONSAFEPATH) and the installed
    `twolayer` command leave it, unless twolayer itself was found there (run
    from its source folder). `python -m myexp`, whose package imports
    twolayer and then a module of the folder, is left as it is."""
    if _sys.argv[:1] != ["-m"] or _python_m_module().partition(".")[0] != "twolayer" or _sys.flags.safe_path \
            or not _sys.path:
        return
    try:
        here = _os.getcwd()
    except OSError:  # deleted under the process: nothing there to import
        return
    if _sys.path[0] in ("", here) and _os.path.dirname(_os.path.dirname(__file__)) != here:
        del _sys.path[0]


def _python_m_module() -> str:
    """The module Python's own command line names after -m (`python -X dev
    -m twolayer`, `-mtwolayer`); "" where it names none this reads."""
    words = iter(_sys.orig_argv[1:])
    for word in words:
        if word == "-m":
            return next(words, "")
        if word.startswith("-m"):
            return word[2:]
        if word in ("-W", "-X", "--check-hash-based-pycs"):  # an option's value follows
            next(words, "")
        elif not word.startswith("-") or word == "-c":
            return ""
    return ""


_leave_the_current_folder_off_the_path()

from twolayer.config import TrainConfig  # noqa: E402
from twolayer.model import TwoLayerNet  # noqa: E402
from twolayer.trainer import History, fit  # noqa: E402

# What the command line does, as functions (`twolayer.train(config)`), and the scikit-learn estimator:
# imported on first use, so that `import twolayer` (and every command's start) stays quick.
# The report is twolayer.report.report: `twolayer.report` is its module's name.
LAZY = {"train": "twolayer.workflow", "resume": "twolayer.workflow", "evaluate": "twolayer.workflow",
        "predict": "twolayer.workflow", "load_bundle": "twolayer.bundles", "load_dataset": "twolayer.data",
        "TwoLayerClassifier": "twolayer.sklearn"}

__all__ = ["TwoLayerNet", "TrainConfig", "fit", "History", "__version__", *LAZY]


# names other libraries give what twolayer calls otherwise (a slip of spelling,
# `twolayer.trian`, Python itself answers with "Did you mean: 'train'?")
OTHER_NAMES = {"load_model": "load_bundle", "load": "load_bundle", "MLPClassifier": "TwoLayerClassifier"}


def __getattr__(name: str):
    if name not in LAZY:
        raise AttributeError(f"module 'twolayer' has no attribute {name!r}"
                             + (f"; did you mean {OTHER_NAMES[name]}?" if name in OTHER_NAMES else ""))
    import importlib

    value = getattr(importlib.import_module(LAZY[name]), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY})
