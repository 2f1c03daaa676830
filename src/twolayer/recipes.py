"""Named training recipes: `twolayer train --recipe NAME`.

A recipe is a set of option values; options given on the command line win.
Each value is here for a reason, said beside it; the README's table gives
the accuracy and time each recipe reaches, and benchmarks/recipes.py
reproduces them.
"""

from __future__ import annotations

from typing import Any

RECIPES: dict[str, dict[str, Any]] = {
    # The course report's recipe, exactly: 0.475 validation, 0.477 test.
    "classic": {
        "hidden_size": 50, "std": 1e-4, "lr": 1e-3, "reg": 0.4, "batch_size": 200, "lr_decay": 0.95,
        "iters": 1000, "schedule": "step", "optimizer": "sgd", "preprocess": "mean",
    },
    # One hidden layer, trained well, within 15 minutes on 2 CPU cores.
    "cpu": {
        "hidden_size": 2048,  # wide enough to learn many templates, small enough for the time budget
        "std": 0.02,  # about sqrt(2 / 3072): keeps the hidden layer's scale on standardized pixels
        "preprocess": "zca", "zca_epsilon": 1e-2,  # decorrelated pixels: +3 points over standardize here
        "optimizer": "nesterov", "momentum": 0.9,
        "schedule": "onecycle", "warmup": 0.2, "lr": 0.02,  # warm up, then anneal to almost zero
        "reg": 2.5e-4,  # L2 (weight decay 5e-4 in PyTorch's convention)
        "batch_size": 200,
        "flip": True, "crop": 4,  # the augmentation that pays most for images
        "label_smoothing": 0.1,
        # chosen by validation accuracy (5,000 carved images): 50 epochs 0.640; 90 epochs 0.659;
        # 3,072 units for 60 epochs 0.645 (the wider net is slower per epoch and no better)
        "epochs": 90,
        "val_size": 5000, "test_size": 5000,  # a held-out test split when the dataset has none
    },
    # The same ideas at full width, for a GPU (--device cuda): ZCA, dropout, long training.
    "gpu": {
        "device": "cuda",  # on the CPU it would train for hours; --device cpu does so on purpose
        "hidden_size": 8192, "std": 0.015, "preprocess": "zca", "zca_epsilon": 1e-2,
        "optimizer": "nesterov", "momentum": 0.9, "schedule": "onecycle", "warmup": 0.2, "lr": 0.02,
        "reg": 2.5e-4, "batch_size": 256, "flip": True, "crop": 4, "dropout_input": 0.1,
        "dropout_hidden": 0.3, "label_smoothing": 0.1, "epochs": 200, "val_size": 5000, "test_size": 5000,
    },
    # The defaults of the scikit-learn estimator (twolayer.sklearn.TwoLayerClassifier), whose
    # input is feature columns of any scale, most often standardized (StandardScaler first).
    # Chosen on the validation rows the estimator holds out of digits (1,437 rows, scaled):
    # the table's defaults 0.931, Adam lr 1e-3 batch 100 0.917, batch 50 0.931, batch 50
    # with lr 2e-3 0.951 (benchmarks/sklearn_compare.py compares it with MLPClassifier).
    "sklearn": {
        "optimizer": "adam",  # MLPClassifier's default: Adam's step hardly depends on the features' scale
        "lr": 2e-3, "batch_size": 50,
        "std": 1e-2,  # hidden units start at a useful scale on standardized features
    },
}
