"""twolayer: a two-layer neural network for image classification, from
scratch in NumPy, with a trainer, a command line and saved models."""

__version__ = "0.1.0"

from twolayer.config import TrainConfig  # noqa: E402
from twolayer.model import TwoLayerNet  # noqa: E402
from twolayer.trainer import History, fit  # noqa: E402

__all__ = ["TwoLayerNet", "TrainConfig", "fit", "History", "__version__"]
