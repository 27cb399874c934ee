"""Telemed web assets: templates/ and static/ (installed as the telemed_web package)."""
