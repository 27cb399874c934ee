"""The call pages' words for the browser scripts, translated on the server.

Scripts get them from a `<script type="application/json" id="visit-strings">` data block;
keys are stable identifiers, values are English msgids translated for the request.
"""

from __future__ import annotations

from aiohttp import web

from telemed.views.render import N_, t

CALL_STRINGS: dict[str, str] = {
    "you": N_("You"),
    "connecting": N_("Connecting…"),
    "reconnecting": N_("Reconnecting…"),
    "connection_lost": N_("The connection dropped. Trying again…"),
    "waiting_room": N_("You are in the waiting room. The doctor will let you in shortly."),
    "admitted": N_("The doctor let you in."),
    "denied": N_("The doctor cannot see you now. You will be contacted."),
    "ended": N_("The visit has ended. Thank you."),
    "left": N_("You left the visit."),
    "replaced": N_("You joined this visit from another window or device."),
    "removed": N_("Your invitation to this visit was withdrawn."),
    "refused": N_("The visit could not be joined."),
    "room_full": N_("This visit already has as many participants as it allows."),
    "mute": N_("Mute microphone"),
    "unmute": N_("Unmute microphone"),
    "camera_off": N_("Turn camera off"),
    "camera_on": N_("Turn camera on"),
    "share": N_("Share screen"),
    "stop_share": N_("Stop sharing"),
    "end_confirm": N_("End the visit for everyone?"),
    "admit": N_("Admit"),
    "deny": N_("Not now"),
    "knocking": N_("is waiting to be let in"),
    "nobody_waiting": N_("Nobody is waiting."),
    "precall_none": N_("no connection test"),
    "precall_summary": N_("connection {verdict}, {rtt} ms, camera {video}, microphone {audio}"),
    "ok": N_("working"),
    "not_ok": N_("not working"),
    "quality_good": N_("Good connection"),
    "quality_fair": N_("Fair connection"),
    "quality_poor": N_("Weak connection"),
    "quality_unknown": N_("Connection quality not known yet"),
    "verdict_good": N_("good"),
    "verdict_fair": N_("fair"),
    "verdict_poor": N_("weak"),
    "verdict_failed": N_("failed"),
    "plain_good": N_("Your connection is good. You are ready for the visit."),
    "plain_fair": N_("Your connection is fair. The picture may sometimes be blurry."),
    "plain_poor": N_(
        "Your connection is weak. The visit may stutter: move closer to your router or use "
        "another network if you can."),
    "plain_failed": N_(
        "We could not test your connection. You can still enter the waiting room; the doctor "
        "will see that the test failed."),
    "testing": N_("Testing your connection…"),
    "camera_denied": N_(
        "The browser did not allow the camera or microphone. Allow them in the address bar "
        "and try again."),
    "camera_ready": N_("Camera and microphone are working."),
    "rtt": N_("Round-trip time: {ms} ms"),
    "chat_empty": N_("No messages yet."),
    "peer_left": N_("{name} left the visit."),
    "peer_joined": N_("{name} joined the visit."),
}


def call_strings(request: web.Request) -> dict[str, str]:
    """Every call-page string in the request's language."""
    return {key: t(request, message) for key, message in CALL_STRINGS.items()}


