"""What a notification says, in the recipient's language: title, email, Apprise text.

Stored notifications hold a title code and parameters, never finished text; this module
translates them at the edge. A message leaving the platform carries no clinical content
(docs/notifications.md, "What a message says"): the title, at most the patient's
initials, and a link that opens the page after login.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Final

from telemed.i18n import LANGUAGES, gettext


def N_(message: str) -> str:
    """Mark an English msgid for extraction (translated where it is shown)."""
    return message


TITLES: Final[Mapping[str, str]] = {
    "alert_escalated": N_("Critical alert not acknowledged (patient {initials})"),
    "alert_critical": N_("New critical alert (patient {initials})"),
    "emergency_access": N_("Emergency access to your health record"),
    "document_available": N_("A new document is available in your record"),
    "visit_reminder": N_("Reminder: you have a visit soon"),
    "visit_reminder_guest": N_("Reminder: a video visit you are invited to starts soon"),
    "visit_changed": N_("A visit of yours was scheduled or changed"),
    "account_security": N_("The second factor of your account was reset"),
    "account_fiscal_code": N_("The fiscal code for SPID / CIE sign-in on your account was "
                              "changed"),
    "teleconsult_request": N_("New teleconsult request (patient {initials})"),
    "teleconsult_urgent": N_("URGENT teleconsult request (patient {initials})"),
    "teleconsult_accepted": N_("Your teleconsult request was accepted (patient {initials})"),
    "teleconsult_declined": N_("Your teleconsult request was declined (patient {initials})"),
    "teleconsult_more_info": N_("The specialist asks for more information about a "
                                "teleconsult request (patient {initials})"),
    "teleconsult_add_info": N_("More information was added to a teleconsult request "
                               "(patient {initials})"),
    "teleconsult_answered": N_("Your teleconsult request was answered (patient {initials})"),
    "teleconsult_cancelled": N_("A teleconsult request was withdrawn (patient {initials})"),
    "document_cosign": N_("A report awaits your co-signature (patient {initials})"),
}
_OPEN = N_("Open this link to see it (you will be asked to log in first):")
_PRIVACY = N_("For your privacy, this message contains no clinical details.")
_WHY = N_("You receive this message from Telemed because of your notification settings.")
_FALLBACK_TITLE = N_("You have a new notification")
_OPEN_GUEST = N_("Open this link to join the visit, shortly before it starts:")
_WHY_GUEST = N_("You receive this message because a clinician invited you to this visit "
                "with this address.")


# The daily digest (docs/notifications.md, "Daily digest"): a heading per kind, with the count
# said as "(×3)" like a folded notification (no other digit leaves the platform).
GROUPS: Final[Mapping[str, str]] = {
    "teleconsult_request": N_("New teleconsult requests"),
    "teleconsult_update": N_("News on teleconsult requests"),
    "document_cosign": N_("Reports awaiting your co-signature"),
    "document_available": N_("New documents in your record"),
}
_OTHER_GROUP = N_("Other notifications")
_DIGEST_SUBJECT = N_("Your daily summary")
_DIGEST_INTRO = N_("What happened since your last summary. Each link opens the page (you "
                   "will be asked to log in first):")
_DIGEST_WHY = N_("You receive this summary instead of single messages because you chose it "
                 "in your notification settings:")


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One notification of a digest: its kind, its title (translated) and its address."""

    kind: str
    heading: str
    url: str


def language_for(preferred: str | None, default: str) -> str:
    """The recipient's language, else the platform's."""
    return preferred if preferred in LANGUAGES else default


def initials(given_name: str, family_name: str) -> str:
    """"Mario Rossi" -> "M. R." (all a message may say about a patient)."""
    parts = [p[0].upper() + "." for p in (given_name.strip(), family_name.strip()) if p]
    return " ".join(parts)


def title(lang: str, title_code: str, params: Mapping[str, Any], count: int = 1) -> str:
    """The notification's title in ``lang``; ``count`` > 1 (duplicates folded into it,
    ``telemed.domain.quiet``) is said as "(×3)"."""
    template = gettext(lang, TITLES.get(title_code, _FALLBACK_TITLE))
    safe = {k: str(v) for k, v in params.items() if isinstance(v, str | int)}
    try:
        heading = template.format(**safe)
    except (KeyError, IndexError, ValueError):
        heading = gettext(lang, _FALLBACK_TITLE)
    return f"{heading} (×{count})" if count > 1 else heading


def plain_text(lang: str, heading: str, url: str, guest: bool = False) -> str:
    """The body of an email or a page to the operators (``guest``: to a visit's guest,
    who has no account to log in to)."""
    return "\n".join([heading, "", gettext(lang, _OPEN_GUEST if guest else _OPEN), url, "",
                      gettext(lang, _PRIVACY), gettext(lang, _WHY_GUEST if guest else _WHY),
                      ""])


def email_message(*, lang: str, heading: str, url: str, sender: str, recipient: str,
                  message_id: str, guest: bool = False) -> EmailMessage:
    """The email of one notification, with its stable Message-ID."""
    return _email(subject=f"Telemed: {heading}", lang=lang,
                  body=plain_text(lang, heading, url, guest), sender=sender,
                  recipient=recipient, message_id=message_id)


def _email(*, subject: str, lang: str, body: str, sender: str, recipient: str,
           message_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Message-ID"] = message_id
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    msg["Content-Language"] = lang  # after set_content, which drops Content-* headers
    return msg


def message_id(notification_id: str, sender: str) -> str:
    """``<notification id@sender's domain>``: the same for every attempt of a notification."""
    domain = sender.rpartition("@")[2].strip("> ") or "telemed.invalid"
    return f"<{notification_id}@{domain}>"


def digest_text(lang: str, items: Sequence[DigestItem], settings_url: str) -> str:
    """The body of a digest: the items grouped by kind (in the order of `GROUPS`), each
    group headed by its name and count, each item its title and link."""
    lines = [gettext(lang, _DIGEST_INTRO), ""]
    order = [*GROUPS, *sorted({i.kind for i in items} - set(GROUPS))]
    for kind in order:
        group = [i for i in items if i.kind == kind]
        if not group:
            continue
        lines.append(f"{gettext(lang, GROUPS.get(kind, _OTHER_GROUP))} (×{len(group)})")
        for item in group:
            lines += [f"- {item.heading}", f"  {item.url}"]
        lines.append("")
    return "\n".join([*lines, gettext(lang, _PRIVACY), gettext(lang, _DIGEST_WHY),
                      settings_url, ""])


def digest_message(*, lang: str, items: Sequence[DigestItem], settings_url: str,
                   sender: str, recipient: str, message_id: str) -> EmailMessage:
    """The email of one digest, with its stable Message-ID."""
    return _email(subject=f"Telemed: {gettext(lang, _DIGEST_SUBJECT)}", lang=lang,
                  body=digest_text(lang, items, settings_url), sender=sender,
                  recipient=recipient, message_id=message_id)
