"""Telemed: an open telemedicine platform (televisits, telemonitoring, care plans)."""

__version__ = "0.1.0"
