"""Process settings for one-shot commands: cyclic garbage collection paused, a fast exit.

A check of a 68 MB plan allocates millions of dicts, lists and strings. They
form no reference cycles, so reference counting frees them and the cyclic
collector finds nothing. Yet it walks them again and again while they are being
allocated: with it running, ``orjson.loads`` of such a plan took 1.0 s of CPU
on a shared 2-vCPU machine, and 0.3 s with it paused. Freeing the parsed plan
at the end took another 0.1 s, which a process about to exit need not spend.

``paused_collection`` pauses the collector around a command's work and restores
it afterwards, so a command run inside another program (the tests) leaves it as
it was. ``exit_now`` ends the process with ``os._exit`` without freeing anything.
It does so only after the console script armed it with ``arm_fast_exit`` and a
command kept its large objects with ``retain``. Standard output and standard
error are flushed first. ``os._exit`` skips ``atexit`` handlers, so a command
that retains objects must leave nothing for them to do.
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
    """Pause the cyclic garbage collector for the block; a paused collector stays paused."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated in the block sits in the youngest generation, so the next
        # collection would walk all of it. Freezing moves it to the oldest generation at
        # once; unfreezing is skipped when a caller froze objects of its own.
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.enable()
            gc.unfreeze()
        else:
            gc.enable()


def arm_fast_exit() -> None:
    """Allow ``exit_now`` to end the process; only the console script calls this."""
    global _armed
    _armed = True


def retain(*objects: object) -> None:
    """Keep ``objects`` alive until the process exits, when the fast exit is armed.

    Unarmed (a command run inside another program), this does nothing, so the
    objects are freed as usual.
    """
    if _armed:
        _retained.extend(objects)


def exit_now(code: int) -> None:
    """End the process with ``code`` at once when a command retained objects.

    Returns without doing anything when the fast exit is not armed or nothing
    was retained, so the caller exits the usual way.
    """
    if not (_armed and _retained):
        return
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            # A closed or broken pipe. Python's own exit reports a failed flush of
            # standard output with status 120, so a passing check does not exit 0.
            code = code or 120
    os._exit(code)
