"""Sealing and verifying: PAdES on the PDF (pyHanko), a detached JWS on the FHIR Bundle.

The Bundle's signature is a JWS (RFC 7515, compact, with detached content, appendix F) over
the canonical JSON of the Bundle without its ``signature`` element; its protected header
carries the seal's certificate chain (``x5c``), the time (``sigT``) and the signing
clinician (``telemed.signer``). It is stored in ``Bundle.signature.data`` (base64), with
``sigFormat`` ``application/jose``. Verification checks the signature with the certificate
of the header, and that certificate against the trust anchors.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import json
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.registry import HeaderParameter

from telemed.documents.seal import Seal, chains_to
from telemed.domain.documents import KindSpec, canonical_json
from telemed.i18n.labels import NC_, say

# Our protected header names: the signing time (as in JAdES) and the signing clinician.
_REGISTRY = jws.JWSRegistry(header_registry={
    "sigT": HeaderParameter("Signing time", "str"),
    "telemed.signer": HeaderParameter("The signing clinician", "str"),
}, algorithms=["ES256", "RS256"])
_REGISTRY.max_header_length = 16_384  # the header carries the certificate chain (x5c)
SIGNATURE_TYPE = {"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1",
                  "display": "Author's Signature"}


@dataclass(frozen=True)
class Verdict:
    """What verification found: intact, trusted, who sealed it, for whom, and when."""

    format: Literal["pdf", "bundle", "unknown"]
    intact: bool
    trusted: bool
    seal: str = ""          # the seal certificate's subject
    signed_by: str = ""     # the clinician named in the signature
    signed_at: str = ""     # ISO time of the signature
    reason: str = ""        # why not intact or not trusted (English)

    @property
    def ok(self) -> bool:
        return self.intact and self.trusted

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "ok": self.ok, "intact": self.intact,
                "trusted": self.trusted, "seal": self.seal, "signed_by": self.signed_by,
                "signed_at": self.signed_at, "reason": self.reason}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _jwk(seal: Seal) -> ECKey | RSAKey:
    pem = seal.key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    if isinstance(seal.key, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(pem)
    return RSAKey.import_key(pem)


def _alg(seal: Seal) -> str:
    return "ES256" if isinstance(seal.key, ec.EllipticCurvePrivateKey) else "RS256"


def bundle_payload(bundle: dict[str, Any]) -> bytes:
    """What the Bundle's signature covers: its canonical JSON without ``signature``."""
    return canonical_json({k: v for k, v in bundle.items() if k != "signature"})


def seal_bundle(seal: Seal, bundle: dict[str, Any], *, signer_name: str,
                who_reference: str, when: dt.datetime) -> dict[str, Any]:
    """The Bundle with its ``signature`` (a detached JWS by the seal)."""
    header = {"alg": _alg(seal),
              "x5c": [_b64(c.public_bytes(serialization.Encoding.DER))
                      for c in (seal.certificate, *seal.chain)],
              "sigT": when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "telemed.signer": signer_name}
    compact = jws.serialize_compact(header, bundle_payload(bundle), _jwk(seal),
                                    registry=_REGISTRY)
    head, _payload, sig = compact.split(".")
    detached = f"{head}..{sig}"
    return {**bundle, "signature": {
        "type": [SIGNATURE_TYPE], "when": when.isoformat(),
        "who": {"reference": who_reference, "display": signer_name},
        "sigFormat": "application/jose", "data": _b64(detached.encode())}}


def _load_der(items: list[Any]) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(base64.b64decode(item)) for item in items]


def verify_bundle(data: bytes, anchors: tuple[x509.Certificate, ...]) -> Verdict:
    """Check a signed Bundle (JSON bytes) against ``anchors``."""
    try:
        bundle = json.loads(data)
        detached = base64.b64decode(bundle["signature"]["data"]).decode()
        head, empty, _sig = detached.split(".")
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        certs = _load_der(header["x5c"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        return Verdict("bundle", False, False, reason="Not a signed FHIR Bundle.")
    if empty:
        return Verdict("bundle", False, False, reason="The signature is not detached.")
    signer, chain = certs[0], tuple(certs[1:])
    seal_name = signer.subject.rfc4514_string()
    public = signer.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    key = ECKey.import_key(public) if header.get("alg") == "ES256" else RSAKey.import_key(public)
    base = Verdict("bundle", False, False, seal=seal_name,
                   signed_by=str(header.get("telemed.signer", "")),
                   signed_at=str(header.get("sigT", "")))
    try:
        jws.deserialize_compact(detached, key, registry=_REGISTRY,
                                payload=bundle_payload(bundle))
    except (JoseError, ValueError):
        return _replace(base, reason="The content does not match its signature.")
    trusted = chains_to(signer, chain, anchors) and _valid_at(signer, header.get("sigT"))
    return _replace(base, intact=True, trusted=trusted,
                    reason="" if trusted else "The seal is not issued by a trusted anchor.")


def _valid_at(cert: x509.Certificate, when: Any) -> bool:
    try:
        moment = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return False
    return cert.not_valid_before_utc <= moment < cert.not_valid_after_utc


def _replace(v: Verdict, **changes: Any) -> Verdict:
    return Verdict(**{**v.__dict__, **changes})


# --- PDF (PAdES B-B) ----------------------------------------------------------------------


def seal_reason(spec: KindSpec, lang: str, names: str) -> str:
    """The reason of a document's PAdES seal, in the document's language ``lang``: its kind
    and who signed it (``names``)."""
    return say(lang, NC_("document", "{kind} - signed by {names}"), kind=spec.title(lang),
               names=names)


def seal_pdf(seal: Seal, pdf: bytes, *, signer_name: str, reason: str) -> bytes:
    """The PDF with a PAdES signature by the seal (blocking: run it off the event loop)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    der = serialization.Encoding.DER
    cert = asn1_x509.Certificate.load(seal.certificate.public_bytes(der))
    key = asn1_keys.PrivateKeyInfo.load(seal.key.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    others = [asn1_x509.Certificate.load(c.public_bytes(der)) for c in seal.chain]
    signer = signers.SimpleSigner(signing_cert=cert, signing_key=key,
                                  cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                                      others))
    meta = signers.PdfSignatureMetadata(field_name="Seal", md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        reason=reason, name=signer_name)
    out = io.BytesIO()
    _pdf_17_signer(meta, signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


def _pdf_17_signer(meta: Any, signer: Any) -> Any:
    """A pyHanko signer that keeps the file at PDF 1.7, so a PDF/A-2 document stays one
    (docs/documents.md, "PDF/A-2b"): PAdES with the ESIC extension, as ETSI EN 319 142-1
    has it for PDF 1.7, also with an ECDSA seal, for which pyHanko would otherwise declare
    PDF 2.0 and ISO 32002 (our signatures are SHA-256, never SHA-3, EdDSA or a PDF MAC)."""
    from pyhanko.sign import signers
    from pyhanko.sign.signers.constants import ESIC_EXTENSION_1

    class Pdf17Signer(signers.PdfSigner):
        def register_extensions(self, pdf_out: Any, *, md_algorithm: str) -> None:
            pdf_out.ensure_output_version(version=(1, 7))
            pdf_out.register_extension(ESIC_EXTENSION_1)

    return Pdf17Signer(meta, signer=signer)


def verify_pdf(data: bytes, anchors: tuple[x509.Certificate, ...]) -> Verdict:
    """Check a PAdES-signed PDF against ``anchors`` (blocking)."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    roots = [asn1_x509.Certificate.load(a.public_bytes(serialization.Encoding.DER))
             for a in anchors]
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
        if not signatures:
            return Verdict("pdf", False, False, reason="The PDF has no signature.")
        embedded = signatures[-1]
        name = str(embedded.sig_object.get("/Name", ""))
        status = validate_pdf_signature(embedded, ValidationContext(trust_roots=roots))
    except Exception as exc:
        return Verdict("pdf", False, False, reason=f"The PDF cannot be checked: "
                       f"{type(exc).__name__}.")
    seal_name = status.signing_cert.subject.human_friendly if status.signing_cert else ""
    when = status.signer_reported_dt.isoformat() if status.signer_reported_dt else ""
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    intact = bool(status.intact and status.valid and whole)
    trusted = bool(status.trusted)
    reason = ("" if intact and trusted else
              "The content does not match its signature." if not intact else
              "The seal is not issued by a trusted anchor.")
    return Verdict("pdf", intact, trusted, seal=seal_name, signed_by=name, signed_at=when,
                   reason=reason)


def verify_any(data: bytes, anchors: tuple[x509.Certificate, ...]) -> Verdict:
    """A PDF or a Bundle, told apart by their first bytes."""
    if data.startswith(b"%PDF"):
        return verify_pdf(data, anchors)
    if data.lstrip().startswith(b"{"):
        return verify_bundle(data, anchors)
    return Verdict("unknown", False, False, reason="Neither a PDF nor a FHIR Bundle.")
