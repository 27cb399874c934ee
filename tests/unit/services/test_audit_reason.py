"""Audit reasons always fit their column; a shortened one says so with an ellipsis."""

from telemed.services.audit import MAX_REASON, fit_reason


def test_reasons_up_to_the_limit_are_kept_whole() -> None:
    assert fit_reason(None) is None
    assert fit_reason("") == ""
    assert fit_reason("r" * MAX_REASON) == "r" * MAX_REASON


def test_a_longer_composed_reason_is_visibly_shortened() -> None:
    reason = "granted: " + "n" * MAX_REASON
    fitted = fit_reason(reason)
    assert fitted is not None and len(fitted) == MAX_REASON
    assert fitted.endswith("…") and reason.startswith(fitted[:-1])
