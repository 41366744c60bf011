"""A pause for each flavour of the data API: `async_sleep` in the asyncio modules becomes `sleep`
in the generated sync ones (tools/async_to_sync.py)."""

from __future__ import annotations

import asyncio
import time


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    time.sleep(seconds)
