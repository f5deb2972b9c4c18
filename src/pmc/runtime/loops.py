"""The event loops ``async def`` task handlers are awaited on.

A handler may be ``async def``; the runner that calls it is synchronous. Each
thread running handlers keeps its own loop between attempts, and a thread
whose own loop is already running (``handle`` called from ``async`` code)
hands the handler to one helper loop shared by the whole process.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

_T = TypeVar("_T")

# One event loop per thread that runs handlers (a worker thread, or a thread
# calling ``ProcessManager.handle``), kept between attempts: a handler object
# may hold clients bound to the loop that first used them (an HTTP session,
# say), and a loop per attempt would break them on the second call.
_thread_loops = threading.local()


def await_in_thread(awaitable: Awaitable[_T]) -> _T:
    """Run ``awaitable`` to its end from synchronous code, on this thread's own loop.

    If the calling thread already runs an event loop (``handle`` called from
    ``async`` code), that loop is blocked by the caller and cannot run the
    handler: it then runs on the process's helper loop (see ``_HelperLoop``),
    and the caller waits for it, as it waits for a ``def`` handler.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return _helper_loop().run(awaitable)
    runner: asyncio.Runner | None = getattr(_thread_loops, "runner", None)
    if runner is None:
        runner = _thread_loops.runner = asyncio.Runner()
    try:
        return runner.run(_awaited(awaitable))
    except BaseException as error:
        if not isinstance(error, Exception):
            # KeyboardInterrupt, SystemExit or a cancellation left the loop
            # mid-step: start the next handler on a clean one.
            close_thread_loop()
        raise


def close_thread_loop() -> None:
    """Close this thread's handler loop, if it has one (a worker thread ending)."""
    runner: asyncio.Runner | None = getattr(_thread_loops, "runner", None)
    _thread_loops.runner = None
    if runner is not None:
        runner.close()


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    # ``asyncio.Runner.run`` takes a coroutine; a handler may return any awaitable.
    return await awaitable


class _HelperLoop:
    """One event loop running in a daemon thread, for the whole process.

    It runs the ``async def`` handlers awaited from threads whose own loop is
    running (``handle`` called from ``async`` code, where that loop is blocked
    by the call). Like a thread's own loop, it is kept between attempts, so a
    client a handler bound to it on its first call works on the next; every
    such caller, from any thread, shares it. Started on first use; closed at
    interpreter exit (``close_helper_loop``).
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="pmc-async-handlers", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.run_until_complete(self.loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                self.loop.close()

    def run(self, awaitable: Awaitable[_T]) -> _T:
        if threading.current_thread() is self.thread:
            # A handler on this loop calling ``handle`` itself: this loop is
            # blocked by that call, so the inner handler gets a loop of its own.
            with ThreadPoolExecutor(1, thread_name_prefix="pmc-async-handler") as helper:
                return helper.submit(asyncio.run, _awaited(awaitable)).result()
        future = asyncio.run_coroutine_threadsafe(_captured(awaitable), self.loop)
        returned, error = future.result()
        if error is not None:
            raise error
        return cast(_T, returned)  # set whenever error is None

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()


async def _captured(awaitable: Awaitable[_T]) -> tuple[_T | None, BaseException | None]:
    # Whatever the handler raises goes back to the caller: a KeyboardInterrupt
    # or SystemExit escaping a task would otherwise stop the helper loop itself.
    try:
        return await awaitable, None
    except BaseException as error:
        return None, error


_helper: _HelperLoop | None = None
_helper_lock = threading.Lock()


def _helper_loop() -> _HelperLoop:
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = _HelperLoop()
        return _helper


def close_helper_loop() -> None:
    """Stop and close the helper loop, if it was started (at interpreter exit).

    A later ``async def`` handler awaited from a running loop starts a new one.
    """
    global _helper
    with _helper_lock:
        helper, _helper = _helper, None
    if helper is not None:
        helper.close()


def _forget_helper_loop() -> None:
    # In a forked child the helper thread does not exist: start afresh there.
    global _helper, _helper_lock
    _helper, _helper_lock = None, threading.Lock()


atexit.register(close_helper_loop)
os.register_at_fork(after_in_child=_forget_helper_loop)
