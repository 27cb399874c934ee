"""The platform's questionnaires and their scoring (CONTRACT §7), as pure functions.

The catalogue:

- ``phq9``, the Patient Health Questionnaire-9 (Kroenke, Spitzer & Williams 2001; free to
  use, no permission needed): nine items over the last two weeks, each 0 ("not at all") to
  3 ("nearly every day"); the score is their sum, 0–27; severity bands at 5, 10, 15 and 20
  (minimal 0–4, mild 5–9, moderate 10–14, moderately severe 15–19, severe 20–27). Any
  answer above 0 to item 9 (thoughts of being better off dead or of self-harm) is flagged
  ``item9`` whatever the total, for a clinician to follow up the same day.
- ``hf_diary``, a heart-failure symptom diary (today compared with the usual): breathlessness
  (0–3: as usual, on exertion more than usual, with light activity, at rest), orthopnoea
  (0–2: as usual, needed more pillows, woke up breathless or could not lie flat), ankle
  swelling (0–2) and fatigue (0–2). Score: the sum, 0–9; bands ``stable`` 0–2,
  ``watch`` 3–5, ``worse`` 6–9; flags ``breathless_at_rest`` and ``orthopnoea`` (the
  warning signs of the ESC heart-failure self-care advice).
- ``copd_diary``, a COPD symptom diary after the Anthonisen criteria (Anthonisen et al. 1987):
  the three cardinal symptoms compared with the usual (more breathlessness, more sputum,
  sputum turned yellow or green, i.e. purulent) and the minor ones (a cold or sore throat in
  the last five days, fever without another cause, more wheezing, more cough). Score: the
  number of cardinal symptoms, 0–3; band ``type1`` (all three), ``type2`` (two), ``type3``
  (one and at least one minor), else ``none``.
- ``hypo_diary``, hypoglycaemia symptoms in the last week (yes/no): autonomic (shaking,
  sweating, a pounding heart, hunger) and neuroglycopenic (confusion or trouble
  concentrating, dizziness or blurred vision), and whether another person had to help (a
  level 3, severe, hypoglycaemia in the ADA classification, flagged ``severe_hypo``). Score:
  the number of symptoms, 0–6; bands ``none`` 0, ``some`` 1–2, ``many`` 3–6.

Item and answer texts are English msgids (translated at the edge). ``score`` refuses an
answer set that is incomplete, names an unknown item or gives a value the item does not
offer, with a ``DomainValidationError`` per problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from telemed.domain.errors import DomainValidationError, FieldError


@dataclass(frozen=True, slots=True)
class Option:
    value: int
    text: str


@dataclass(frozen=True, slots=True)
class Item:
    link_id: str
    text: str
    options: tuple[Option, ...]


@dataclass(frozen=True, slots=True)
class Scored:
    """The score of one response: total, band and flags."""

    score: int
    band: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Questionnaire:
    code: str
    title: str
    intro: str
    items: tuple[Item, ...]
    max_score: int
    bands: tuple[str, ...]  # from the mildest to the worst
    rule: Callable[[Mapping[str, int]], Scored]

    def item(self, link_id: str) -> Item | None:
        return next((i for i in self.items if i.link_id == link_id), None)


_FREQUENCY = (Option(0, "Not at all"), Option(1, "Several days"),
              Option(2, "More than half the days"), Option(3, "Nearly every day"))
_YES_NO = (Option(0, "No"), Option(1, "Yes"))

PHQ9_BANDS = ((20, "severe"), (15, "moderately_severe"), (10, "moderate"), (5, "mild"),
              (0, "minimal"))


def _phq9(answers: Mapping[str, int]) -> Scored:
    total = sum(answers.values())
    band = next(name for floor, name in PHQ9_BANDS if total >= floor)
    flags = ("item9",) if answers.get("phq9-9", 0) > 0 else ()
    return Scored(total, band, flags)


def _hf(answers: Mapping[str, int]) -> Scored:
    total = sum(answers.values())
    band = "worse" if total >= 6 else "watch" if total >= 3 else "stable"
    flags = []
    if answers["breathlessness"] == 3:
        flags.append("breathless_at_rest")
    if answers["orthopnoea"] == 2:
        flags.append("orthopnoea")
    return Scored(total, band, tuple(flags))


COPD_CARDINAL = ("dyspnoea", "sputum_volume", "sputum_purulence")
COPD_MINOR = ("cold", "fever", "wheeze", "cough")


def _copd(answers: Mapping[str, int]) -> Scored:
    cardinal = sum(answers[k] for k in COPD_CARDINAL)
    minor = sum(answers[k] for k in COPD_MINOR)
    if cardinal == 3:
        band = "type1"
    elif cardinal == 2:
        band = "type2"
    elif cardinal == 1 and minor >= 1:
        band = "type3"
    else:
        band = "none"
    return Scored(cardinal, band)


HYPO_SYMPTOMS = ("shaking", "sweating", "palpitations", "hunger", "confusion", "dizziness")


def _hypo(answers: Mapping[str, int]) -> Scored:
    total = sum(answers[k] for k in HYPO_SYMPTOMS)
    band = "many" if total >= 3 else "some" if total >= 1 else "none"
    return Scored(total, band, ("severe_hypo",) if answers["needed_help"] else ())


_TABLE = (
    Questionnaire(
        "phq9", "Mood (PHQ-9)",
        "Over the last 2 weeks, how often have you been bothered by any of the following "
        "problems?",
        tuple(Item(f"phq9-{n}", text, _FREQUENCY) for n, text in enumerate((
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself, or that you are a failure or have let yourself or "
            "your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching "
            "television",
            "Moving or speaking so slowly that other people could have noticed, or the "
            "opposite: being so fidgety or restless that you have been moving around a lot "
            "more than usual",
            "Thoughts that you would be better off dead, or of hurting yourself in some way",
        ), start=1)),
        27, ("minimal", "mild", "moderate", "moderately_severe", "severe"), _phq9),
    Questionnaire(
        "hf_diary", "Heart failure diary",
        "Compared with your usual days, how are you today?",
        (
            Item("breathlessness", "Breathlessness", (
                Option(0, "As usual"), Option(1, "More than usual when I move"),
                Option(2, "Even with light activity"), Option(3, "Even at rest"))),
            Item("orthopnoea", "Breathing when lying down", (
                Option(0, "As usual"), Option(1, "I needed more pillows"),
                Option(2, "I woke up breathless or could not lie flat"))),
            Item("ankle_swelling", "Swollen ankles or legs", (
                Option(0, "No"), Option(1, "A little more than usual"),
                Option(2, "Much more than usual"))),
            Item("fatigue", "Tiredness", (
                Option(0, "As usual"), Option(1, "More tired than usual"),
                Option(2, "Much more tired than usual"))),
        ),
        9, ("stable", "watch", "worse"), _hf),
    Questionnaire(
        "copd_diary", "COPD diary",
        "Compared with your usual days, in the last days:",
        (
            Item("dyspnoea", "Are you more breathless than usual?", _YES_NO),
            Item("sputum_volume", "Are you coughing up more phlegm than usual?", _YES_NO),
            Item("sputum_purulence", "Has your phlegm turned yellow or green?", _YES_NO),
            Item("cold", "Have you had a cold or a sore throat in the last 5 days?", _YES_NO),
            Item("fever", "Have you had a fever?", _YES_NO),
            Item("wheeze", "Are you wheezing more than usual?", _YES_NO),
            Item("cough", "Are you coughing more than usual?", _YES_NO),
        ),
        3, ("none", "type3", "type2", "type1"), _copd),
    Questionnaire(
        "hypo_diary", "Low blood sugar diary",
        "In the last week, have you had any of these?",
        (
            Item("shaking", "Shaking or trembling", _YES_NO),
            Item("sweating", "Sudden sweating", _YES_NO),
            Item("palpitations", "A pounding or fast heartbeat", _YES_NO),
            Item("hunger", "Sudden strong hunger", _YES_NO),
            Item("confusion", "Confusion or trouble concentrating", _YES_NO),
            Item("dizziness", "Dizziness or blurred vision", _YES_NO),
            Item("needed_help", "Did someone have to help you treat a low blood sugar?",
                 _YES_NO),
        ),
        6, ("none", "some", "many"), _hypo),
)

CATALOGUE: Mapping[str, Questionnaire] = MappingProxyType({q.code: q for q in _TABLE})


def check_answers(questionnaire: Questionnaire, answers: Mapping[str, object]) -> dict[str, int]:
    """Every item answered once with one of its values; ``DomainValidationError`` else."""
    errors: list[FieldError] = []
    clean: dict[str, int] = {}
    for link_id in answers:
        if questionnaire.item(link_id) is None:
            errors.append(FieldError(f"answers.{link_id}", "unknown_item",
                                     'There is no question "{link_id}" in this questionnaire.',
                                     {"link_id": link_id}))
    for item in questionnaire.items:
        raw = answers.get(item.link_id)
        if raw is None:
            errors.append(FieldError(f"answers.{item.link_id}", "required",
                                     "Please answer this question.", {}))
            continue
        allowed = {o.value for o in item.options}
        if isinstance(raw, bool) or not isinstance(raw, int) or raw not in allowed:
            errors.append(FieldError(f"answers.{item.link_id}", "invalid_choice",
                                     "Choose one of the answers offered.", {}))
            continue
        clean[item.link_id] = raw
    if errors:
        raise DomainValidationError(errors)
    return clean


def score(code: str, answers: Mapping[str, object]) -> Scored:
    """Score a complete answer set of the questionnaire ``code``."""
    questionnaire = CATALOGUE.get(code)
    if questionnaire is None:
        raise DomainValidationError([FieldError(
            "questionnaire", "unknown_questionnaire", 'There is no questionnaire "{code}".',
            {"code": code})])
    return questionnaire.rule(check_answers(questionnaire, answers))


def band_rank(code: str, band: str) -> int:
    """The position of ``band`` among the questionnaire's bands (0 = mildest)."""
    return CATALOGUE[code].bands.index(band)


def past_threshold(scored: Scored, alert_at: int | None) -> bool:
    """Whether a response alerts: its score reaches the plan's ``alert_at``, or it carries a
    flag (PHQ-9 item 9, rest breathlessness, orthopnoea, a severe hypoglycaemia), which
    always needs a clinician's eyes."""
    return bool(scored.flags) or (alert_at is not None and scored.score >= alert_at)
