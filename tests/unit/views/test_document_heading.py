"""The line under a document's heading names its kind only when the title does not."""

from __future__ import annotations

from telemed.views.documents import kind_shown


def test_the_kind_is_left_out_when_it_repeats_the_title() -> None:
    title = "Relazione Finale di Telemonitoraggio"
    assert kind_shown(title, "Relazione finale di telemonitoraggio ") is None
    assert kind_shown(title, "Final monitoring report") == "Final monitoring report"
    assert kind_shown("Referto – controllo", "Referto di Televisita") == "Referto di Televisita"
