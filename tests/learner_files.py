"""Learners' files for the tests of check and --net: the assignment-style
network in tests/learners/, and small ones written on the spot."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEARNER = ROOT / "tests" / "learners" / "neural_net.py"


def learner_replacing(*pairs: tuple[str, str]) -> str:
    """The assignment-style learner with each (old, new) of `pairs` replaced."""
    text = LEARNER.read_text()
    for old, new in pairs:
        assert old in text  # the copy really makes the change
        text = text.replace(old, new)
    return text


# Its weights kept at hand: attributes set in __init__ after its last param, read in loss.
LAST_PARAM = '        self.params["b2"] = np.zeros(output_size)\n'
KEPT_AT_HAND = "        self.W1, self.b1, self.W2, self.b2 = (self.params[k] for k in ('W1', 'b1', 'W2', 'b2'))\n"
READ_PARAMS = ('        W1, b1 = self.params["W1"], self.params["b1"]\n'
               '        W2, b2 = self.params["W2"], self.params["b2"]\n')
READ_AT_HAND = "        W1, b1, W2, b2 = self.W1, self.b1, self.W2, self.b2\n"


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
