import asyncio

import pytest

from tests.calls.harness import Harness


@pytest.fixture
def harness(tmp_path):
    """A factory: ``await harness(extra_toml, trunks=..., stations=...)`` inside the test's event loop."""
    made = []

    def make(extra: str = "", **options):
        h = Harness(tmp_path, extra, **options)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def run(coroutine):
    return asyncio.run(coroutine)
