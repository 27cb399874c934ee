"""Moved to `telemed.services.turn` (pages and the API hand out join details without the
signalling package); kept so that older imports keep working."""

from telemed.services.turn import ice_servers, join_details, pseudonym, turn_password, turn_username

__all__ = ["ice_servers", "join_details", "pseudonym", "turn_password", "turn_username"]
