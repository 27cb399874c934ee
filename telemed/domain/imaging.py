"""Viewer rules: window presets and the limits of a requested window, zoom and frame."""

from __future__ import annotations

import math
import re
from typing import Final

# (center, width) in Hounsfield units.
PRESETS: Final[dict[str, tuple[float, float]]] = {
    "soft_tissue": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}
MIN_WIDTH, MAX_WIDTH = 1.0, 65536.0
MAX_CENTER = 65536.0
MAX_FRAME = 10000
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def valid_uid(text: str) -> bool:
    """A DICOM UID: digits and dots, at most 64 characters."""
    return 0 < len(text) <= 64 and UID.match(text) is not None


def parse_window(center: str | None, width: str | None) -> tuple[float, float] | None:
    """A window from query values (None when both are absent); ValueError when invalid."""
    if center is None and width is None:
        return None
    if center is None or width is None:
        raise ValueError("give both the window center and width")
    c, w = float(center), float(width)
    if not (math.isfinite(c) and math.isfinite(w)):
        raise ValueError("the window must be finite numbers")
    if not -MAX_CENTER <= c <= MAX_CENTER or not MIN_WIDTH <= w <= MAX_WIDTH:
        raise ValueError("the window is out of range")
    return c, w
