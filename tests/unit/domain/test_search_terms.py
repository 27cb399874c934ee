"""Patient search terms: folding, terms, prefix ranges."""

from __future__ import annotations

import pytest

from telemed.domain.search_terms import (
    fold,
    patient_terms,
    prefix_end,
    query_words,
    words,
)


def test_fold_drops_accents_and_case() -> None:
    assert fold("Nicolò SAVOIA-Àlvarez") == "nicolo savoia-alvarez"
    assert fold("Straße") == "strasse"


def test_words_split_on_anything_but_letters_and_digits() -> None:
    assert words("D'Amico  de'  Medici") == ["d", "amico", "de", "medici"]
    assert words("") == []


def test_patient_terms_include_joined_names_and_the_fiscal_code() -> None:
    terms = patient_terms("Maria Grazia", "D'Amico", "DMCMGR80A41H501X")
    assert terms == {"maria", "grazia", "mariagrazia", "d", "amico", "damico",
                     "dmcmgr80a41h501x"}


def test_query_words_are_folded_distinct_and_bounded() -> None:
    assert query_words("  Rossì ROSSI mar ") == ["rossi", "mar"]
    assert len(query_words("a b c d e f g h")) == 6


@pytest.mark.parametrize(("prefix", "end"), [
    ("ros", "rot"), ("raz", "rb"), ("a9", "aa"), ("zz", None), ("0", "1"),
])
def test_prefix_end_bounds_every_string_with_the_prefix(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


def test_prefix_range_holds_exactly_the_words_with_the_prefix() -> None:
    sample = ["ro", "ros", "rossi", "rosz", "roszzz", "rot", "rotta", "rb", "raz", "razzo"]
    for prefix in ("ros", "raz", "ro"):
        end = prefix_end(prefix)
        inside = [w for w in sample if w >= prefix and (end is None or w < end)]
        assert inside == [w for w in sample if w.startswith(prefix)]
