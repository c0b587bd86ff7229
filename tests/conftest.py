"""Fixtures shared by every test tier."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded random generator, so a failure can be replayed."""
    return np.random.default_rng(20261126)
