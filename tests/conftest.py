import pytest
import torch

from pruning.data import Dataset, load_digits


@pytest.fixture(scope="session")
def digits():
    return load_digits()


@pytest.fixture(scope="session")
def tiny_digits(digits):
    """300 training and 100 test images: enough for the pipeline to be real, fast enough for CI."""
    return Dataset("digits", digits.train_x[:300], digits.train_y[:300], digits.test_x[:100],
                   digits.test_y[:100], 10)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
