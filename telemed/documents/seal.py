"""The organisation's seal: an X.509 certificate and its key, checked against a trust anchor.

Settings (docs/documents.md): ``TELEMED_SEAL_KEY`` (PEM private key), ``TELEMED_SEAL_CERT``
(PEM: the seal's certificate first, then any intermediate CA) and ``TELEMED_SEAL_TRUST_ANCHOR``
(PEM of the CA certificates a verifier trusts). The process refuses to start, naming the
setting, when a file is unreadable, the certificate is expired or not yet valid, the key is
not the certificate's, or the certificate does not chain to the anchor.

Under ``TELEMED_ENV=development`` with no seal configured, a demo seal is made once in
``DATA_DIR/seal/`` (a self-made CA and a seal certificate it issues; ``make run`` uses it);
under ``test``, a throwaway one in memory. Production
without a seal can draft documents but not sign them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from telemed.settings import Settings, SettingsError

SealKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
DEMO_DIR = "seal"


@dataclass(frozen=True)
class Seal:
    """A loaded, checked seal."""

    key: SealKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # intermediates (the seal's own cert not included)
    anchors: tuple[x509.Certificate, ...]
    demo: bool = False

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def organisation(self) -> str:
        names = self.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        return str(names[0].value) if names else self.subject


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"invalid setting {setting}: cannot read {path}: "
                            f"{exc.strerror or exc}") from None


def _certs(data: bytes, setting: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise SettingsError(f"invalid setting {setting}: no PEM certificate in the file")
    return certs


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def chains_to(cert: x509.Certificate, chain: tuple[x509.Certificate, ...],
              anchors: tuple[x509.Certificate, ...]) -> bool:
    """True when ``cert`` reaches one of ``anchors`` through ``chain`` (at most 5 steps)."""
    current = cert
    for _ in range(6):
        if any(issued_by(current, a) for a in anchors) or current in anchors:
            return True
        parent = next((c for c in chain if issued_by(current, c)), None)
        if parent is None or parent == current:
            return False
        current = parent
    return False


def check_validity(cert: x509.Certificate, now: dt.datetime, setting: str) -> None:
    if now < cert.not_valid_before_utc:
        raise SettingsError(f"invalid setting {setting}: the certificate is not valid before "
                            f"{cert.not_valid_before_utc.isoformat()}")
    if now >= cert.not_valid_after_utc:
        raise SettingsError(f"invalid setting {setting}: the certificate expired on "
                            f"{cert.not_valid_after_utc.isoformat()}")


def load_seal_files(key_path: Path, cert_path: Path, anchor_path: Path,
                    now: dt.datetime | None = None, demo: bool = False) -> Seal:
    """Load and check a seal; SettingsError names the setting at fault."""
    moment = now or dt.datetime.now(dt.UTC)
    certs = _certs(_read(cert_path, "TELEMED_SEAL_CERT"), "TELEMED_SEAL_CERT")
    anchors = tuple(_certs(_read(anchor_path, "TELEMED_SEAL_TRUST_ANCHOR"),
                           "TELEMED_SEAL_TRUST_ANCHOR"))
    try:
        key = serialization.load_pem_private_key(_read(key_path, "TELEMED_SEAL_KEY"), None)
    except (ValueError, TypeError):
        raise SettingsError("invalid setting TELEMED_SEAL_KEY: not an unencrypted PEM "
                            "private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SettingsError("invalid setting TELEMED_SEAL_KEY: only EC and RSA keys are "
                            "supported")
    cert, chain = certs[0], tuple(certs[1:])
    if cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SettingsError("invalid setting TELEMED_SEAL_CERT: the certificate is not the "
                            "one of TELEMED_SEAL_KEY")
    check_validity(cert, moment, "TELEMED_SEAL_CERT")
    for anchor in anchors:
        check_validity(anchor, moment, "TELEMED_SEAL_TRUST_ANCHOR")
    if not chains_to(cert, chain, anchors):
        raise SettingsError("invalid setting TELEMED_SEAL_CERT: the certificate does not "
                            "chain to TELEMED_SEAL_TRUST_ANCHOR")
    return Seal(key, cert, chain, anchors, demo=demo)


def load_seal(settings: Settings, now: dt.datetime | None = None) -> Seal | None:
    """The configured seal, a demo seal (development, test), or None (cannot sign)."""
    given = [settings.seal_key, settings.seal_cert, settings.seal_trust_anchor]
    if any(given) and not all(given):
        missing = [n for n, v in zip(("TELEMED_SEAL_KEY", "TELEMED_SEAL_CERT",
                                      "TELEMED_SEAL_TRUST_ANCHOR"), given, strict=True)
                   if not v]
        raise SettingsError(f"invalid setting {missing[0]}: required with the other seal "
                            "settings")
    if all(given):
        return load_seal_files(Path(settings.seal_key), Path(settings.seal_cert),
                               Path(settings.seal_trust_anchor), now)
    if settings.env == "test":  # a throwaway seal in memory, nothing written
        return demo_seal()
    if settings.env == "development":
        folder = settings.data_dir / DEMO_DIR
        paths = ensure_demo_seal(folder)
        try:
            return load_seal_files(*paths, now=now, demo=True)
        except SettingsError:  # an old demo seal expired: make a new one
            for path in paths:
                path.unlink(missing_ok=True)
            return load_seal_files(*ensure_demo_seal(folder), now=now, demo=True)
    return None


# --- making certificates (the demo seal; tests use the same helpers) ------------------------


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificate(*, subject_key: SealKey, common_name: str, organisation: str,
                     issuer_key: SealKey | None = None,
                     issuer: x509.Certificate | None = None, ca: bool = False,
                     not_before: dt.datetime | None = None,
                     not_after: dt.datetime | None = None) -> x509.Certificate:
    """A certificate for ``subject_key``, self-signed unless an issuer is given."""
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    end = not_after or start + dt.timedelta(days=730)
    name = _name(common_name, organisation)
    builder = (x509.CertificateBuilder()
               .subject_name(name)
               .issuer_name(issuer.subject if issuer else name)
               .public_key(subject_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                   subject_key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()),  # type: ignore[arg-type]
            critical=False)
    return builder.sign(issuer_key or subject_key, hashes.SHA256())


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def pem_key(key: SealKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _demo_pair() -> tuple[SealKey, x509.Certificate, x509.Certificate]:
    ca_key = new_key()
    ca = make_certificate(subject_key=ca_key, common_name="Telemed demo CA (not trusted)",
                          organisation="Telemed demo", ca=True)
    seal_key = new_key()
    seal = make_certificate(subject_key=seal_key, common_name="Telemed demo seal",
                            organisation="Regione Demo - Servizio di Telemedicina",
                            issuer_key=ca_key, issuer=ca)
    return seal_key, seal, ca


def demo_seal() -> Seal:
    """A demo seal in memory (its CA is its only trust anchor)."""
    key, cert, ca = _demo_pair()
    return Seal(key, cert, (ca,), (ca,), demo=True)


def ensure_demo_seal(folder: Path) -> tuple[Path, Path, Path]:
    """Make (once) a demo CA and a seal it issues; return (key, cert, anchor) paths."""
    key_path, cert_path, anchor_path = (folder / "seal-key.pem", folder / "seal.pem",
                                        folder / "demo-ca.pem")
    if key_path.exists() and cert_path.exists() and anchor_path.exists():
        return key_path, cert_path, anchor_path
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    seal_key, seal, ca = _demo_pair()
    key_path.write_bytes(pem_key(seal_key))
    key_path.chmod(0o600)
    cert_path.write_bytes(pem_cert(seal) + pem_cert(ca))
    anchor_path.write_bytes(pem_cert(ca))
    return key_path, cert_path, anchor_path

