"""Overlap I/O with compute: inputs are decoded ahead of the engine and results are written behind
it, each in one background thread with a bounded queue, so memory stays flat."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterable, depth: int = 2) -> Generator:
    """Yield items produced by a background thread, at most `depth` ahead of the consumer."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            slots.put(_Failure(error))

    thread = threading.Thread(target=produce, name="igcli-read", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()


class BackgroundWriter:
    """Runs write(item) in one thread, in order; submit() blocks when `depth` items wait."""

    def __init__(self, write: Callable, depth: int = 2):
        self.write = write
        self.slots: queue.Queue = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="igcli-write", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            item = self.slots.get()
            if item is _DONE:
                return
            if self.error is None:
                try:
                    self.write(item)
                except BaseException as error:  # re-raised in the main thread by submit/close
                    self.error = error

    def submit(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.slots.put(item)

    def close(self) -> None:
        """Wait for every submitted item to be written; raise the first write error."""
        self.slots.put(_DONE)
        self.thread.join()
        if self.error is not None:
            raise self.error
