"""The words the board's script needs, translated on the server (see `board.board_page`)."""

from __future__ import annotations

from telemed.views.render import N_

# Keys are stable, values English msgids.
BOARD_STRINGS: dict[str, str] = {
    "connecting": N_("Connecting…"),
    "live": N_("Live: new alerts appear by themselves."),
    "reconnecting": N_("Reconnecting… the board may be out of date."),
    "count": N_("Alerts shown: {shown} of {total}."),
    "just_now": N_("just now"),
    "announce_new": N_("New alert. {summary}"),
    "announce_worse": N_("Alert now critical. {summary}"),
    "announce_escalated": N_("Alert escalated to the doctor. {summary}"),
    "acknowledged": N_("Alert acknowledged."),
    "resolved": N_("Alert resolved."),
    "snoozed": N_("Alert snoozed."),
    "note_required": N_("Say how the alert was resolved."),
    "already_acknowledged": N_("This alert is already acknowledged."),
    "already_resolved": N_("This alert is already resolved."),
    "session_expired": N_("Your session has expired. Reload the page and log in again."),
    "no_access": N_("You have no access to this patient's record."),
    "failed": N_("That did not work. Check the connection and try again."),
    "sound_blocked": N_("The browser blocked the sound. Click anywhere on the page to allow it."),
    "error_prefix": N_("Error:"),
}
