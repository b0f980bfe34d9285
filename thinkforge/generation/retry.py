"""Retries with exponential backoff and full jitter, for transient errors only."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TransientError(Exception):
    """An error worth retrying: connection refused, 429, 5xx, timeouts."""


TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (TransientError, ConnectionError, TimeoutError)):
        return True
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx ships with the lock
        return False
    if isinstance(exc, (httpx.TransportError, httpx.TimeoutException)):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in TRANSIENT_STATUS


def with_retries(
    fn: Callable[[], T],
    max_retries: int,
    base_delay_s: float,
    max_delay_s: float,
    on_retry: Callable[[int, BaseException, float], None] = lambda *_: None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call fn; on a transient error wait base*2^attempt (full jitter, capped) and try again."""
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if attempt >= max_retries or not is_transient(exc):
                raise
            delay = random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt))
            on_retry(attempt + 1, exc, delay)
            sleep(delay)
            attempt += 1
