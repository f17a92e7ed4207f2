"""What APScheduler says about coalesced ticks."""
from __future__ import annotations

import logging
import threading
import time

import pytest
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from sync.scheduler import quiet_skips


def _run_a_slow_job(seconds: float) -> None:
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(2)},
                                    job_defaults={"coalesce": True, "max_instances": 1})
    release = threading.Event()
    scheduler.add_job(lambda: release.wait(5), "interval", seconds=0.05, id="slow")
    scheduler.start()
    try:
        time.sleep(seconds)
    finally:
        release.set()
        scheduler.shutdown(wait=True)


@pytest.mark.parametrize("quiet", [False, True])
def test_a_tick_skipped_while_the_last_run_goes_on_is_not_a_warning(quiet: bool,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Thousands of these an hour buried a busy replica's real warnings."""
    logger = logging.getLogger("apscheduler.scheduler")
    before = list(logger.filters)
    try:
        if quiet:
            quiet_skips()
        else:
            for f in before:
                logger.removeFilter(f)
        with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
            _run_a_slow_job(0.4)
        skipped = [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
        assert (skipped == []) if quiet else skipped, "APScheduler itself says it, unless quieted"
    finally:
        for f in list(logger.filters):
            logger.removeFilter(f)
        for f in before:
            logger.addFilter(f)
