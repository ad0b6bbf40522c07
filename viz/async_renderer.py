"""Rendering off the UI thread: the newest arguments win, and the window never waits for the generator."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from stylegan.view import ViewArgs
from viz.renderer import Renderer, RenderResult


class AsyncRenderer:
    """A Renderer in a worker thread (PyTorch releases the GIL while it computes, so the UI keeps drawing).

    `set_args` never blocks: arguments that arrive while a frame renders replace any still waiting, so a slow
    model skips intermediate states instead of queueing them. `result()` returns the newest finished result once.
    With `threaded=False` the same calls render synchronously (tests, and the 'async off' setting).
    `on_result` is called from the worker thread whenever a result is ready (the window wakes up for it).
    """

    def __init__(self, renderer: Renderer | None = None, threaded: bool = True,
                 on_result: Callable[[], None] | None = None):  # fmt: skip
        self.renderer = renderer or Renderer()
        self.threaded = threaded
        self.on_result = on_result
        self._lock = threading.Condition()
        self._pending: ViewArgs | None = None
        self._result: RenderResult | None = None
        self._busy = False
        self._closed = False
        self.result_ready = threading.Event()  # set while a finished result waits to be taken
        self._thread = None
        self._death: str | None = None  # why the last worker stopped, until a result says so
        self.restarts = 0
        if threaded:
            self._start_worker()

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._work, name="renderer", daemon=True)
        self._thread.start()

    def _revive(self) -> None:
        """Start a new worker if the last one died (with the lock held); the next result carries the message."""
        if self._closed or self._thread is None or self._thread.is_alive():
            return
        self.restarts += 1
        why = self._death or "it stopped"
        self._death = None
        self._busy = False
        self._result = RenderResult(error=f"the render worker stopped ({why}) and was restarted")
        self.result_ready.set()
        self._start_worker()

    def set_args(self, args: ViewArgs) -> None:
        args = copy.deepcopy(args)
        if not self.threaded:
            self._result = self.renderer.render(args)
            return
        with self._lock:
            self._revive()
            self._pending = args
            self._lock.notify()

    def result(self) -> RenderResult | None:
        """The newest finished result, or None if nothing new has finished since the last call."""
        with self._lock:
            self._revive()
            result, self._result = self._result, None
            self.result_ready.clear()
        return result

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._busy or self._pending is not None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _work(self) -> None:
        try:
            self._serve()
        except BaseException as error:  # noqa: BLE001 (anything at all: the window restarts the worker)
            with self._lock:
                self._death = f"{type(error).__name__}: {error}"[:300]

    def _serve(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                args, self._pending = self._pending, None
                self._busy = True
            result = self.renderer.render(args)
            with self._lock:
                self._result = result
                self._busy = False
                self.result_ready.set()
            if self.on_result is not None:
                self.on_result()
