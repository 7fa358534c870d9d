from __future__ import annotations

from collections.abc import Iterator

import pytest

from subcast import SubscriptionExecutor

@pytest.fixture
def ex() -> Iterator[SubscriptionExecutor]:
    executor = SubscriptionExecutor()
    yield executor
    executor.close()


