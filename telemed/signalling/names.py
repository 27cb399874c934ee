"""How a delegate is introduced in the visit room ("Anna Rossi, mother of Giulia Rossi"),
in the service's language (peers see one name; the room has no per-viewer wording)."""

from __future__ import annotations

from telemed.i18n import gettext
from telemed.services.visits import ActingFor

_WORDING = {
    ("parent", "F"): "{name}, mother of {patient}",
    ("parent", "M"): "{name}, father of {patient}",
    ("parent", None): "{name}, parent of {patient}",
    ("guardian", None): "{name}, guardian of {patient}",
    ("caregiver", None): "{name}, caregiver of {patient}",
}


def delegate_name(language: str, name: str, acting: ActingFor) -> str:
    """The delegate's name with who they are to the patient."""
    sex = acting.sex if acting.sex in ("F", "M") else None
    wording = _WORDING.get((acting.relationship, sex)) \
        or _WORDING.get((acting.relationship, None)) or "{name}, for {patient}"
    return gettext(language, wording).format(name=name, patient=acting.patient_name)[:120]
