"""Fixtures of the training tests."""

import pytest
from train_helpers import tiny_structures


@pytest.fixture(scope="module")
def structures():
    return tiny_structures()
