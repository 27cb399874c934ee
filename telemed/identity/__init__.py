"""Identity: single sign-on through OpenID Connect, second factors (TOTP, WebAuthn), sessions.

`setup_identity(app)` wires the OIDC client (when `TELEMED_OIDC_ISSUER` is set). The use cases
(`accounts`, `totp`, `passwords`, `confirm`) are services over a database session.
"""
