"""Learners' files for the tests of check and --net: the assignment-style
network in tests/learners/, and small ones written on the spot."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEARNER = ROOT / "tests" / "learners" / "neural_net.py"


def tiny_learner(loss_body: str) -> str:
    """A learner's file whose loss method is `loss_body` (its __init__ is the assignment's)."""
    return ("import numpy as np\n\n\n"
            "class TwoLayerNet:\n"
            "    def __init__(self, input_size, hidden_size, output_size, std=1e-4):\n"
            "        self.params = {'W1': std * np.random.randn(input_size, hidden_size),\n"
            "                       'b1': np.zeros(hidden_size),\n"
            "                       'W2': std * np.random.randn(hidden_size, output_size),\n"
            "                       'b2': np.zeros(output_size)}\n"
            "\n"
            "    def loss(self, X, y=None, reg=0.0):\n" + loss_body)
