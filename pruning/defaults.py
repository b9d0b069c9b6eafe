"""Which zoo model and shipped pruning job go with a built-in data set (no torch import: the CLI reads it at
start-up)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = {"digits": "digits_cnn", "mnist": "lenet5", "fashion_mnist": "lenet5", "cifar10": "vgg16"}   # zoo model per built-in data set
# ``sparsesim prune``'s validation split: this fraction of the training images (a seeded draw) is held out, every
# accuracy the job measures is on it, and the test set is only reported (as compare's ``validation_fraction``)
VALIDATION_FRACTION = 0.1


def default_config_path(model: str, dataset: str) -> Path:
    """The shipped pruning job for a zoo model on a data set (``generic_nonstructured.yaml`` for any other)."""
    from importlib import resources

    name = {("digits_cnn", "digits"): "digits_default.yaml", ("lenet5", "mnist"): "lenet5_mnist_authors.yaml"}.get(
        (model, dataset), "generic_nonstructured.yaml")
    return Path(str(resources.files("pruning") / "configs" / name))
