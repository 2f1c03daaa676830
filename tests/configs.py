"""The training settings the trainer tests write: the classic loop (plain
SGD, lr 1e-3, batches of 200, step decay 0.95) without L2 unless a test asks
for it, whatever the tool's defaults are."""

from twolayer.config import TrainConfig


def config(**options) -> TrainConfig:
    return TrainConfig(**{"optimizer": "sgd", "lr": 1e-3, "reg": 0.0, "batch_size": 200, **options})
