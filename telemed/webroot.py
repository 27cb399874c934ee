"""Where the web assets (templates and static files) are, installed or in a checkout."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def web_root() -> Path:
    """The directory holding templates/ and static/."""
    spec = importlib.util.find_spec("telemed_web")
    if spec is not None and spec.origin:
        return Path(spec.origin).parent
    return Path(__file__).resolve().parents[1] / "web"
