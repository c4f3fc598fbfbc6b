"""The in-process worker's handle on the web app's loop never leaves a job's coroutine unawaited."""

from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from arbitral.jobs.worker import RunningLoop


async def job() -> int:
    return 1


def test_a_job_that_cannot_start_is_closed_not_left_unawaited() -> None:
    loop = asyncio.new_event_loop()  # not running: as between two tests, or after shutdown
    try:
        handle = RunningLoop(loop)
        coro = job()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(RuntimeError, match="not running"):
                handle.run_coroutine(coro)
            assert coro.cr_frame is None  # closed
            del coro
            gc.collect()  # no "coroutine 'job' was never awaited"
    finally:
        loop.close()
