"""The seal from settings, checked at start, and the signatures it makes: a throwaway CA made
with `cryptography`; a flipped byte, a foreign CA, an expired or wrong certificate fail."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from cryptography import x509
from reportlab.pdfgen.canvas import Canvas

from telemed import cli
from telemed.app import create_app
from telemed.documents import seal as seals
from telemed.documents import signing
from telemed.settings import Settings, SettingsError, load_settings

NOW = dt.datetime.now(dt.UTC)


def _ca(tmp: Path, name: str = "ca") -> tuple[seals.SealKey, seals.x509.Certificate, Path]:
    key = seals.new_key()
    cert = seals.make_certificate(subject_key=key, common_name=f"Test CA {name}",
                                  organisation="Test", ca=True)
    path = tmp / f"{name}.pem"
    path.write_bytes(seals.pem_cert(cert))
    return key, cert, path


def _seal_files(tmp: Path, *, not_before: dt.datetime | None = None,
                not_after: dt.datetime | None = None) -> tuple[Path, Path, Path]:
    ca_key, ca, anchor = _ca(tmp)
    key = seals.new_key()
    cert = seals.make_certificate(subject_key=key, common_name="ASL Test seal",
                                  organisation="ASL Test", issuer_key=ca_key, issuer=ca,
                                  not_before=not_before, not_after=not_after)
    (tmp / "seal-key.pem").write_bytes(seals.pem_key(key))
    (tmp / "seal.pem").write_bytes(seals.pem_cert(cert))
    return tmp / "seal-key.pem", tmp / "seal.pem", anchor


def _settings(tmp: Path, key: Path, cert: Path, anchor: Path) -> Settings:
    return load_settings(env="test", data_dir=tmp, secret_key="s" * 40,
                         database_url="sqlite+aiosqlite://", seal_key=str(key),
                         seal_cert=str(cert), seal_trust_anchor=str(anchor))


def test_a_good_seal_loads(tmp_path: Path) -> None:
    seal = seals.load_seal(_settings(tmp_path, *_seal_files(tmp_path)))
    assert seal is not None and not seal.demo and seal.organisation == "ASL Test"


def test_expired_certificate_refuses_start(tmp_path: Path) -> None:
    files = _seal_files(tmp_path, not_before=NOW - dt.timedelta(days=400),
                        not_after=NOW - dt.timedelta(days=1))
    with pytest.raises(SettingsError, match="TELEMED_SEAL_CERT: the certificate expired"):
        create_app(_settings(tmp_path, *files))


def test_not_yet_valid_certificate(tmp_path: Path) -> None:
    files = _seal_files(tmp_path, not_before=NOW + dt.timedelta(days=2))
    with pytest.raises(SettingsError, match="TELEMED_SEAL_CERT: the certificate is not valid"):
        seals.load_seal(_settings(tmp_path, *files))


def test_wrong_certificate_or_key_or_anchor(tmp_path: Path) -> None:
    key, cert, anchor = _seal_files(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_key, _other_cert, other_anchor = _seal_files(other)
    with pytest.raises(SettingsError, match="TELEMED_SEAL_CERT: the certificate is not the "
                                            "one of TELEMED_SEAL_KEY"):
        seals.load_seal(_settings(tmp_path, other_key, cert, anchor))
    with pytest.raises(SettingsError, match="does not chain to TELEMED_SEAL_TRUST_ANCHOR"):
        seals.load_seal(_settings(tmp_path, key, cert, other_anchor))
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(SettingsError, match="TELEMED_SEAL_CERT: no PEM certificate"):
        seals.load_seal(_settings(tmp_path, key, tmp_path / "junk.pem", anchor))
    with pytest.raises(SettingsError, match="TELEMED_SEAL_KEY: not an unencrypted PEM"):
        seals.load_seal(_settings(tmp_path, tmp_path / "junk.pem", cert, anchor))
    with pytest.raises(SettingsError, match="TELEMED_SEAL_KEY: cannot read"):
        seals.load_seal(_settings(tmp_path, tmp_path / "absent.pem", cert, anchor))
    half = load_settings(env="test", data_dir=tmp_path, secret_key="s" * 40,
                         seal_key=str(key))
    with pytest.raises(SettingsError, match="TELEMED_SEAL_CERT: required"):
        seals.load_seal(half)


def test_production_without_seal_cannot_sign_but_starts(tmp_path: Path) -> None:
    settings = load_settings(env="production", data_dir=tmp_path, secret_key="s" * 40)
    assert seals.load_seal(settings) is None


def test_development_makes_a_demo_seal_once(tmp_path: Path) -> None:
    settings = load_settings(env="development", data_dir=tmp_path)
    first = seals.load_seal(settings)
    second = seals.load_seal(settings)
    assert first is not None and first.demo and (tmp_path / "seal" / "demo-ca.pem").exists()
    assert second is not None and second.certificate == first.certificate


def test_bundle_and_pdf_signatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seal = seals.load_seal(_settings(tmp_path, *_seal_files(tmp_path)))
    assert seal is not None
    bundle = {"resourceType": "Bundle", "id": "b1", "type": "document",
              "timestamp": NOW.isoformat(), "entry": []}
    signed = signing.seal_bundle(seal, bundle, signer_name="Dr. Anna Verdi",
                                 who_reference="urn:uuid:x",
                                 when=dt.datetime.now(dt.UTC))  # within the seal's validity
    data = json.dumps(signed).encode()
    good = signing.verify_bundle(data, seal.anchors)
    assert good.ok and good.signed_by == "Dr. Anna Verdi" and "ASL Test seal" in good.seal
    flipped = data.replace(b'"b1"', b'"b2"')
    assert not signing.verify_bundle(flipped, seal.anchors).intact
    _, _, foreign = _ca(tmp_path, "foreign")
    foreign_anchor = tuple(x509.load_pem_x509_certificates(foreign.read_bytes()))
    alien = signing.verify_bundle(data, foreign_anchor)
    assert alien.intact and not alien.trusted and not alien.ok
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.drawString(72, 700, "Referto di prova")
    canvas.save()
    pdf = signing.seal_pdf(seal, out.getvalue(), signer_name="Dr. Anna Verdi", reason="test")
    assert signing.verify_pdf(pdf, seal.anchors).ok
    at = len(pdf) // 4
    broken = pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1:]
    assert not signing.verify_pdf(broken, seal.anchors).intact
    assert not signing.verify_pdf(pdf, foreign_anchor).trusted
    assert signing.verify_any(b"hello", seal.anchors).format == "unknown"
    # The offline tool says the same, with its exit code.
    (tmp_path / "doc.pdf").write_bytes(pdf)
    (tmp_path / "bad.pdf").write_bytes(broken)
    anchor = str(tmp_path / "ca.pem")
    assert cli.main(["document", "verify", str(tmp_path / "doc.pdf"), "--anchor", anchor]) == 0
    said = capsys.readouterr().out
    assert "INTACT, trusted (pdf)" in said and "signed by: Dr. Anna Verdi" in said
    assert cli.main(["document", "verify", str(tmp_path / "bad.pdf"), "--anchor", anchor]) == 1


@pytest.fixture(autouse=True)
def _cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TELEMED_ENV", "test")
    monkeypatch.setenv("TELEMED_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("TELEMED_DATA_DIR", str(tmp_path))


def test_the_command_refuses_to_start_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key, cert, anchor = _seal_files(tmp_path, not_before=NOW - dt.timedelta(days=30),
                                    not_after=NOW - dt.timedelta(minutes=1))
    monkeypatch.setenv("TELEMED_SEAL_KEY", str(key))
    monkeypatch.setenv("TELEMED_SEAL_CERT", str(cert))
    monkeypatch.setenv("TELEMED_SEAL_TRUST_ANCHOR", str(anchor))
    assert cli.main(["web"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("telemed: invalid setting TELEMED_SEAL_CERT: the certificate "
                           "expired")
