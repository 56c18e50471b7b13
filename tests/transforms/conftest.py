"""Fixtures for the transform tests."""

import pytest
from fcl_transforms_ref import STRUCTURES


@pytest.fixture
def structures():
    return {name: atoms.copy() for name, atoms in STRUCTURES.items()}
