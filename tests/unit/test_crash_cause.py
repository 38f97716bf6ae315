"""Which failure decides the exit code when task groups nest (the broker's inside fills)."""

from __future__ import annotations

import asyncio

import pytest

from daemon.app import crash_cause
from daemon.venues.base import BrokerError, FatalBrokerError


async def _fail(exc: Exception) -> None:
    raise exc


async def _nested_failure(inner: list[Exception], outer: list[Exception]) -> None:
    """A task group whose one task runs its own group (as the fills task runs the broker's
    watch and poll loops), failing with `inner` down there and `outer` beside it."""

    async def broker_run() -> None:
        async with asyncio.TaskGroup() as tg:
            for exc in inner:
                tg.create_task(_fail(exc))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(broker_run())
        for exc in outer:
            tg.create_task(_fail(exc))


def _raised(inner: list[Exception], outer: list[Exception]) -> ExceptionGroup[Exception]:
    with pytest.raises(ExceptionGroup) as info:
        asyncio.run(_nested_failure(inner, outer))
    return info.value


def test_refused_credentials_deep_in_a_nested_group_decide_the_exit() -> None:
    auth = FatalBrokerError("auth", "the exchange refused our credentials")
    group = _raised([auth], [])
    assert isinstance(group.exceptions[0], ExceptionGroup)  # what app.py used to take
    assert crash_cause(group) is auth


def test_refused_credentials_win_over_what_failed_beside_them() -> None:
    auth = FatalBrokerError("auth", "refused")
    other = RuntimeError("the strategy broke")
    assert crash_cause(_raised([BrokerError("x", "y"), auth], [other])) is auth


def test_without_refused_credentials_the_first_leaf_is_the_cause() -> None:
    boom = RuntimeError("boom")
    group = ExceptionGroup("trading", [ExceptionGroup("fills", [boom]), ValueError("later")])
    assert crash_cause(group) is boom
