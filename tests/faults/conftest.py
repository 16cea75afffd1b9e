"""Fixtures shared by the fault suites: one emulator per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmorch.testing import ProviderEmulator


@pytest.fixture(scope="module")
def emu() -> Iterator[ProviderEmulator]:
    """The provider emulator, running on its own thread for the whole module."""
    with ProviderEmulator() as emulator:
        yield emulator
