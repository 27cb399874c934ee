import pytest

from telemed.domain.errors import DomainValidationError, FieldError, render_template


def test_render_fills_placeholders() -> None:
    error = FieldError("a.b", "out_of_range", "Must be between {min} and {max}.", {"min": 1,
                                                                                    "max": 5})
    assert error.render() == "Must be between 1 and 5."


def test_render_keeps_unknown_placeholders_and_survives_bad_templates() -> None:
    assert render_template("Hello {name} and {other}", {"name": "x"}) == "Hello x and {other}"
    assert render_template("Broken {", {}) == "Broken {"
    assert render_template("{0}", {}) == "{0}"


def test_field_error_is_frozen_and_params_read_only() -> None:
    params = {"max": 3}
    error = FieldError("p", "too_many", "At most {max} items.", params)
    params["max"] = 99
    assert error.render() == "At most 3 items."
    with pytest.raises(TypeError):
        error.params["max"] = 4  # type: ignore[index]
    with pytest.raises(AttributeError):
        error.code = "x"  # type: ignore[misc]


def test_field_error_hashable_and_comparable() -> None:
    a = FieldError("p", "c", "m", {"x": 1})
    b = FieldError("p", "c", "m", {"x": 1})
    assert a == b
    assert hash(a) == hash(b)
    assert a != FieldError("p", "c", "m", {"x": 2})


def test_to_dict() -> None:
    error = FieldError("goals[0]", "too_long", "At most {max} characters.", {"max": 5})
    assert error.to_dict() == {
        "path": "goals[0]",
        "code": "too_long",
        "message": "At most 5 characters.",
        "params": {"max": 5},
    }


def test_domain_validation_error_lists_all() -> None:
    exc = DomainValidationError([
        FieldError("a", "required", "This field is required."),
        FieldError("", "invalid_type", "Expected {expected}.", {"expected": "an object"}),
    ])
    assert exc.code == "required"
    assert exc.codes == ["required", "invalid_type"]
    assert str(exc) == "a: This field is required.; Expected an object."
    assert isinstance(exc, ValueError)


def test_single_allows_a_param_named_code() -> None:
    exc = DomainValidationError.single("x", "bad", "Code {code}", code="ABC")
    assert exc.errors == [FieldError("x", "bad", "Code {code}", {"code": "ABC"})]
    assert exc.errors[0].render() == "Code ABC"


def test_needs_at_least_one_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        DomainValidationError([])

