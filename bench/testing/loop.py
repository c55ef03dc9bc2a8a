"""The bench's event loop in a thread of its own, for the pytest plugin.

The bench has to stay alive for the whole test session: the CSMS answers the charger's
heartbeats and the sampler keeps recording between two tests, while pytest reports. So its
loop (the clock's loop: time-warped on the virtual lab) runs in a background thread, and
pytest's thread hands it coroutines (fixture set-up, the test functions themselves) and waits
for their result. Ctrl-C (or a timeout plugin's signal) lands in pytest's thread: the coroutine
it waits for is cancelled on the bench's loop (its record says "interrupted") before the
exception goes on to pytest, whose session teardown then puts the bench in the safe state.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
CANCEL_WAIT_S = 30.0  # how long an interrupted coroutine gets to record that it was interrupted


class BenchLoop:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="evbench-loop", daemon=True)
        self._thread.start()
        self._started.wait()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the bench's loop and wait for its result (or its exception)."""
        __tracebackhide__ = True  # a failing test's traceback shows the test, not this hand-over
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            if future.done():  # the coroutine's own exception
                raise
            # Ctrl-C, or a timeout plugin's signal, in pytest's thread: stop the coroutine too
            future.cancel()
            try:
                future.result(timeout=CANCEL_WAIT_S)
            except (concurrent.futures.CancelledError, Exception):
                pass
            raise

    def close(self) -> None:
        """Stop the loop once every task left on it has been cancelled and finished."""
        if self.loop.is_closed():
            return
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(_cancel_rest(), self.loop).result(timeout=CANCEL_WAIT_S)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=CANCEL_WAIT_S)
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


async def _cancel_rest() -> None:
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
