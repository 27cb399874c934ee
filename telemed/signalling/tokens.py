"""Moved to `telemed.services.visit_tokens` (the join endpoints issue them without the
signalling package); kept so that older imports keep working."""

from telemed.services.visit_tokens import (
    JOIN_PURPOSE,
    JOIN_TTL,
    RESUME_PURPOSE,
    RESUME_TTL,
    JoinClaims,
    issue_join_token,
    issue_resume_token,
    read_join_token,
    read_resume_token,
)

__all__ = ["JOIN_PURPOSE", "JOIN_TTL", "RESUME_PURPOSE", "RESUME_TTL", "JoinClaims",
           "issue_join_token", "issue_resume_token", "read_join_token", "read_resume_token"]
