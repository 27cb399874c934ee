from datetime import date, datetime

import pytest
from codicefiscale import codicefiscale
from hypothesis import given, settings
from hypothesis import strategies as st

from telemed.domain.errors import DomainValidationError
from telemed.domain.fiscal_code import (
    Demographics,
    build_fiscal_code,
    canonical_sex,
    fhir_gender,
    is_valid_timezone,
    normalize_phone,
    validate_demographics,
    validate_fiscal_code,
)

MARIO = "RSSMRA80A01H501U"  # Mario Rossi, M, 1980-01-01, Roma
GIULIA = "BNCGLI00B69F205J"  # Giulia Bianchi, F, 2000-02-29, Milano


def with_check(first15: str) -> str:
    return first15 + codicefiscale.encode_cin(first15)


def code_of(code: object, **kwargs: object) -> list[str]:
    with pytest.raises(DomainValidationError) as info:
        validate_fiscal_code(code, **kwargs)  # type: ignore[arg-type]
    assert all(e.path == "fiscal_code" for e in info.value.errors)
    return info.value.codes


def test_valid_codes_are_normalized() -> None:
    assert validate_fiscal_code(MARIO) == MARIO
    assert validate_fiscal_code(" rssmra80a01h501u\n") == MARIO
    assert validate_fiscal_code("RSS MRA 80A01 H501U") == MARIO
    assert validate_fiscal_code(GIULIA, birth_date=date(2000, 2, 29), sex="F") == GIULIA


def test_matching_birth_date_and_sex_in_every_form() -> None:
    assert validate_fiscal_code(MARIO, birth_date=date(1980, 1, 1), sex="M") == MARIO
    assert validate_fiscal_code(MARIO, birth_date="1980-01-01", sex="m") == MARIO
    assert validate_fiscal_code(MARIO, birth_date=datetime(1980, 1, 1, 12), sex=" M ") == MARIO
    # the century is not encoded: 2080 is as consistent as 1980
    assert validate_fiscal_code(MARIO, birth_date=date(1880, 1, 1)) == MARIO


@pytest.mark.parametrize(
    "code",
    ["", "RSSMRA80A01H501", "RSSMRA80A01H501UU", "RSSMRA80Z01H501U", "RSSMR180A01H501U",
     "RSSMRA80A01H5O1U", "RSSMRA80A011501U", "RSSMRA80A01H501-", "RSSMRA8XA01H501U",
     "RSS-MRA-80A01-H501U", "RSSMRÀ80A01H501U"],
)
def test_invalid_format(code: str) -> None:
    assert code_of(code) == ["invalid_format"]


def test_not_a_string() -> None:
    assert code_of(None) == ["invalid_format"]
    assert code_of(12345) == ["invalid_format"]


@pytest.mark.parametrize(
    "first15",
    ["RSSMRA80B30H501",  # 30 February
     "RSSMRA01B29H501",  # 29 February in neither 1901 nor 2001
     "RSSMRA80A00H501",  # day 0
     "RSSMRA80A32H501",  # day 32
     "RSSMRA80A40H501",  # day 40 (women start at 41)
     "RSSMRA80A72H501",  # day 72
     "RSSMRA80D31H501"],  # 31 April
)
def test_impossible_birth_dates(first15: str) -> None:
    assert code_of(with_check(first15)) == ["invalid_format"]


def test_leap_day_possible_in_one_century() -> None:
    assert validate_fiscal_code(with_check("RSSMRA00B29H501"))  # 2000-02-29
    assert validate_fiscal_code(with_check("RSSMRA00B69H501"))  # female


@pytest.mark.parametrize("last", [c for c in "ABCDEFGHIJKLMNOPQRSTVWXYZ"])
def test_every_wrong_check_character(last: str) -> None:
    assert code_of(MARIO[:15] + last) == ["invalid_check_character"]


def test_single_character_typo_caught() -> None:
    typo = "RSSMRB80A01H501U"
    assert code_of(typo) == ["invalid_check_character"]


def test_unknown_birthplace() -> None:
    with pytest.raises(DomainValidationError) as info:
        validate_fiscal_code(with_check("RSSMRA80A01Z999"))
    assert info.value.codes == ["unknown_birthplace"]
    assert "Z999" in info.value.errors[0].render()


def test_foreign_birthplace() -> None:
    germany = build_fiscal_code("Mario", "Rossi", date(2004, 2, 29), "M", "Germania")
    assert germany == "RSSMRA04B29Z112N"
    assert validate_fiscal_code(germany, birth_date=date(2004, 2, 29), sex="M") == germany


def test_omocodia_accepted_and_compared_correctly() -> None:
    omocodes = codicefiscale.decode(MARIO)["omocodes"]
    assert len(omocodes) == 128
    for omocode in omocodes:
        assert validate_fiscal_code(omocode, birth_date=date(1980, 1, 1), sex="M") == omocode
    fully = "RSSMRAULALMHRLMD"
    assert fully in omocodes
    assert code_of(fully, birth_date=date(1980, 1, 2)) == ["birth_date_mismatch"]
    assert code_of(fully, sex="F") == ["sex_mismatch"]


def test_mismatches() -> None:
    assert code_of(MARIO, birth_date=date(1980, 1, 2)) == ["birth_date_mismatch"]
    assert code_of(MARIO, birth_date=date(1980, 2, 1)) == ["birth_date_mismatch"]
    assert code_of(MARIO, birth_date=date(1981, 1, 1)) == ["birth_date_mismatch"]
    assert code_of(MARIO, sex="F") == ["sex_mismatch"]
    assert code_of(GIULIA, sex="M") == ["sex_mismatch"]
    assert code_of(MARIO, birth_date=date(1980, 1, 2), sex="F") == [
        "birth_date_mismatch", "sex_mismatch"]


def test_mismatch_messages() -> None:
    with pytest.raises(DomainValidationError) as info:
        validate_fiscal_code(MARIO, birth_date=date(1980, 1, 2), sex="F")
    rendered = [e.render() for e in info.value.errors]
    assert rendered == ["The fiscal code does not match the birth date 1980-01-02.",
                        "The fiscal code does not match the sex F."]
    assert info.value.errors[0].message == (
        "The fiscal code does not match the birth date {birth_date}.")


def test_unusable_birth_date_or_sex_is_left_to_demographics() -> None:
    assert validate_fiscal_code(MARIO, birth_date="not a date", sex="X") == MARIO


def test_build_fiscal_code() -> None:
    assert build_fiscal_code("Mario", "Rossi", date(1980, 1, 1), "M", "Roma") == MARIO
    assert build_fiscal_code("Giulia", "Bianchi", date(2000, 2, 29), "F", "Milano") == GIULIA
    with pytest.raises(DomainValidationError) as info:
        build_fiscal_code("Mario", "Rossi", date(1980, 1, 1), "M", "Atlantide")
    assert info.value.codes == ["unknown_birthplace"]
    assert info.value.errors[0].path == "birthplace"
    assert build_fiscal_code("Giulia", "Bianchi", date(2000, 2, 29), "f", "Milano") == GIULIA
    with pytest.raises(DomainValidationError) as info:
        build_fiscal_code("Mario", "Rossi", date(1980, 1, 1), "X", "Roma")
    assert (info.value.code, info.value.errors[0].path) == ("invalid_choice", "sex")


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet="abcdefghilmnopqrstuvzàè ", min_size=1, max_size=12).filter(str.strip),
    st.text(alphabet="abcdefghilmnopqrstuvz' ", min_size=1, max_size=12).filter(str.strip),
    st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)),
    st.sampled_from(["M", "F"]),
    st.sampled_from(["Roma", "Milano", "Napoli", "Bari", "Firenze", "Francia"]),
)
def test_built_codes_validate_against_their_demographics(
    given_name: str, family_name: str, born: date, sex: str, place: str
) -> None:
    code = build_fiscal_code(given_name, family_name, born, sex, place)
    assert validate_fiscal_code(code, birth_date=born, sex=sex) == code


@settings(max_examples=200)
@given(st.text(max_size=20))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        assert len(validate_fiscal_code(text)) == 16
    except DomainValidationError as exc:
        assert exc.codes[0] in {"invalid_format", "invalid_check_character",
                                "unknown_birthplace"}


# --- demographics --------------------------------------------------------------------

TODAY = date(2025, 6, 1)


def demo(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "given_name": "Mario", "family_name": "Rossi", "birth_date": date(1950, 5, 4),
        "sex": "M", "phone": "+39 333 123 4567", "timezone": "Europe/Rome", "today": TODAY,
    }
    data.update(changes)
    return data


def demo_errors(**changes: object) -> dict[str, str]:
    with pytest.raises(DomainValidationError) as info:
        validate_demographics(**demo(**changes))  # type: ignore[arg-type]
    return {e.path: e.code for e in info.value.errors}


def test_valid_demographics_normalized() -> None:
    result = validate_demographics(**demo(given_name="  Anna  Maria ", sex="f",  # type: ignore[arg-type]
                                          birth_date="1950-05-04"))
    assert result == Demographics("Anna Maria", "Rossi", date(1950, 5, 4), "F", "+393331234567",
                                  "Europe/Rome")


def test_optional_fields_default() -> None:
    result = validate_demographics(**demo(phone=None, timezone=None))  # type: ignore[arg-type]
    assert result.phone is None and result.timezone == "Europe/Rome"
    assert validate_demographics(**demo(phone="  ", timezone="")).phone is None  # type: ignore[arg-type]


def test_birth_date_bounds() -> None:
    assert validate_demographics(**demo(birth_date=TODAY)).birth_date == TODAY  # type: ignore[arg-type]
    assert validate_demographics(**demo(birth_date=date(1900, 1, 1)))  # type: ignore[arg-type]
    assert demo_errors(birth_date=date(2025, 6, 2)) == {"birth_date": "future_date"}
    assert demo_errors(birth_date=date(1899, 12, 31)) == {"birth_date": "out_of_range"}
    assert demo_errors(birth_date="04/05/1950") == {"birth_date": "invalid_date"}
    assert demo_errors(birth_date=None) == {"birth_date": "invalid_date"}


def test_today_defaults_to_the_clock() -> None:
    data = demo(birth_date=date.today())
    del data["today"]
    assert validate_demographics(**data)  # type: ignore[arg-type]


def test_names() -> None:
    assert demo_errors(given_name="") == {"given_name": "empty_text"}
    assert demo_errors(family_name="   ") == {"family_name": "empty_text"}
    assert demo_errors(family_name="x" * 101) == {"family_name": "too_long"}
    assert validate_demographics(**demo(family_name="x" * 100))  # type: ignore[arg-type]
    assert demo_errors(given_name=None) == {"given_name": "invalid_type"}
    assert demo_errors(given_name="Ma\x00rio") == {"given_name": "invalid_characters"}
    assert validate_demographics(**demo(family_name="D'Annunzio-Sañé")).family_name == (  # type: ignore[arg-type]
        "D'Annunzio-Sañé")


def test_sex() -> None:
    for bad in ("X", "", "mal", "femmina", "M F", "intersex", 1, True, None):
        assert demo_errors(sex=bad) == {"sex": "invalid_choice"}


@pytest.mark.parametrize(("given", "stored"), [
    ("M", "M"), ("f", "F"), ("O", "O"), ("u", "U"), ("male", "M"), ("Female", "F"),
    (" other ", "O"), ("UNKNOWN", "U"),
])
def test_sex_accepts_letters_and_fhir_administrative_gender(given: str, stored: str) -> None:
    assert validate_demographics(**demo(sex=given)).sex == stored  # type: ignore[arg-type]
    assert canonical_sex(given) == stored


def test_fhir_gender_of_every_stored_sex() -> None:
    assert [fhir_gender(s) for s in ("M", "F", "O", "U", "X", "")] == [
        "male", "female", "other", "unknown", "unknown", "unknown"]


def test_fiscal_code_sex_check_applies_to_male_and_female_only() -> None:
    assert code_of(MARIO, sex="female") == ["sex_mismatch"]
    assert code_of(GIULIA, sex="male") == ["sex_mismatch"]
    assert validate_fiscal_code(MARIO, birth_date=date(1980, 1, 1), sex="male") == MARIO
    for neither in ("O", "U", "other", "unknown"):
        assert validate_fiscal_code(MARIO, birth_date=date(1980, 1, 1), sex=neither) == MARIO
        assert validate_fiscal_code(GIULIA, birth_date=date(2000, 2, 29), sex=neither) == GIULIA
    # the birth date is still compared when the sex is other or unknown
    assert code_of(MARIO, birth_date=date(1980, 1, 2), sex="other") == ["birth_date_mismatch"]
    with pytest.raises(DomainValidationError) as info:
        build_fiscal_code("Mario", "Rossi", date(1980, 1, 1), "other", "Roma")
    assert info.value.codes == ["invalid_choice"]
    assert build_fiscal_code("Mario", "Rossi", date(1980, 1, 1), "male", "Roma") == MARIO


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [("+39 333 123 4567", "+393331234567"), ("0039-333-1234567", "+393331234567"),
     ("+1 (555) 123.4567", "+15551234567"), ("+4930123456", "+4930123456")],
)
def test_phone_normalized(raw: str, normalized: str) -> None:
    assert normalize_phone(raw) == normalized
    assert validate_demographics(**demo(phone=raw)).phone == normalized  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["333 1234567", "+0391234567", "+39 abc", "+12345",
                                 "+1234567890123456", "++39333", 3331234567])
def test_phone_invalid(raw: object) -> None:
    assert demo_errors(phone=raw) == {"phone": "invalid_phone"}


@pytest.mark.parametrize("zone", ["Europe/Rome", "UTC", "America/Argentina/Buenos_Aires",
                                  "Etc/GMT+1", "America/Port-au-Prince"])
def test_valid_timezones(zone: str) -> None:
    assert is_valid_timezone(zone)
    assert validate_demographics(**demo(timezone=zone)).timezone == zone  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", ["Europe", "europe/rome", "Mars/Olympus", "../etc/passwd",
                                  "/etc/localtime", "localtime", "posixrules", "Factory",
                                  "Europe/Rome\x00", "zone.tab", "Europe//Rome", "+01:00"])
def test_invalid_timezones(zone: str) -> None:
    assert not is_valid_timezone(zone)
    assert demo_errors(timezone=zone) == {"timezone": "invalid_timezone"}


def test_all_errors_reported_together() -> None:
    assert demo_errors(given_name="", family_name="", birth_date="x", sex="?", phone="1",
                       timezone="Nowhere") == {
        "given_name": "empty_text", "family_name": "empty_text", "birth_date": "invalid_date",
        "sex": "invalid_choice", "phone": "invalid_phone", "timezone": "invalid_timezone"}


def test_masked_fiscal_code_hides_birth_date_sex_and_place() -> None:
    from telemed.domain.fiscal_code import mask_fiscal_code

    assert mask_fiscal_code(MARIO) == "RSS**********01U"
    assert "80A01" not in mask_fiscal_code(MARIO)
    assert mask_fiscal_code(None) == "" and mask_fiscal_code("") == ""
    assert mask_fiscal_code("ABC") == "***"
