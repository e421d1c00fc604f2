"""Process settings for one-shot commands: the cyclic garbage collector paused, a fast exit.

A check of a 68 MB plan allocates millions of dicts, lists and strings. They
form no reference cycles, so reference counting frees them and the cyclic
collector finds nothing to collect. It still walks them again and again while
they are allocated. ``bench/check.py`` measured ``orjson.loads`` of such a plan
at 1.1 s of CPU with the collector running and 0.4 s with it disabled (see
bench/README.md). Freeing the parsed plan at the end took another 0.1 s, which
a process about to exit does not need to spend.

``paused_collection`` pauses the collector around a command's work and restores
it afterwards, so a command run inside another program, such as the tests,
leaves the collector as it found it. ``exit_now`` ends the process with
``os._exit`` without freeing anything. It does so only after the console script
called ``arm_fast_exit`` and a command passed its large objects to ``retain``,
and it flushes standard output and standard error first. ``os._exit`` skips
``atexit`` handlers, so a command that retains objects must leave no work for them.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_armed = False
_retained: list[object] = []


@contextmanager
def paused_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block, unless it is paused already."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated in the block is in the youngest generation, where the next
        # collection would walk all of it. Freezing moves it to the oldest generation in
        # one step. When a caller froze objects of its own, they stay frozen instead.
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.enable()
            gc.unfreeze()
        else:
            gc.enable()


def arm_fast_exit() -> None:
    """Allow ``exit_now`` to end the process. Only the console script calls this."""
    global _armed
    _armed = True


def retain(*objects: object) -> None:
    """Keep ``objects`` alive until the process exits, when the fast exit is armed.

    Unarmed, as in a command run inside another program, this does nothing, so
    the objects are freed as usual.
    """
    if _armed:
        _retained.extend(objects)


def exit_now(code: int) -> None:
    """End the process with ``code`` at once, when it is armed and a command retained objects.

    Returns without doing anything otherwise, so the caller exits the usual way.
    """
    if not (_armed and _retained):
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # A closed or broken pipe. Python's own exit reports a failed flush of
            # standard output with status 120, so a passing check does not exit 0 either.
            code = code or 120
    os._exit(code)
