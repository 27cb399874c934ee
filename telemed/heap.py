"""The garbage collector's settings for a long-running process of the platform."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """Before serving: modules and settings live as long as the process, so the garbage
    collector stops rescanning them on every full collection (`gc.freeze`), and it runs its
    young collections every 20,000 allocations instead of 700: a batch of readings allocates
    tens of thousands of short-lived objects, and the default thresholds spent a tenth of the
    ingest worker's time collecting them (bench/ingest.py)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
