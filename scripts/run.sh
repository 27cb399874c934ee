#!/usr/bin/env bash
# `make run`: migrate, seed the demo region, serve, and run the simulated home devices.
set -euo pipefail
PY=${PY:-.venv/bin/python}
export TELEMED_ENV=${TELEMED_ENV:-development}
"$PY" -m telemed db upgrade
# The demo region's PACS: a private Orthanc with DICOMweb (docs/teleconsult.md), when
# installed; without it the platform runs and the image viewer says images are unavailable.
pacs=
if [ -z "${TELEMED_DICOMWEB_URL:-}" ]; then
  if "$PY" -c 'import sys; from telemed.imaging.orthanc import find_orthanc as o, find_dicomweb_plugin as p; sys.exit(0 if o() and p() else 1)'; then
    pacs_port=${PACS_PORT:-18042}
    "$PY" -m telemed.imaging.orthanc "${TELEMED_DATA_DIR:-./var}/orthanc" "$pacs_port" >/dev/null 2>&1 &
    pacs=$!
    trap 'kill $pacs 2>/dev/null' EXIT
    export TELEMED_DICOMWEB_URL="http://127.0.0.1:$pacs_port/dicom-web"
    for _ in $(seq 40); do
      curl -fsS "$TELEMED_DICOMWEB_URL/studies?limit=1" >/dev/null 2>&1 && break
      sleep 0.25
    done
    echo "demo PACS (Orthanc, DICOMweb) at $TELEMED_DICOMWEB_URL"
  else
    echo "Orthanc is not installed: teleconsult images are unavailable (as root: apt-get install orthanc orthanc-dicomweb)"
  fi
fi
"$PY" -m telemed demo --seed-only
# Emails go to a local mail catcher unless a real server is configured: every message is
# stored under DATA_DIR/mail/ (.eml files, and one line each in index.log).
catcher=
if [ -z "${TELEMED_SMTP_URL:-}" ]; then
  mail_port=${MAIL_CATCHER_PORT:-18025}
  "$PY" scripts/mail_catcher.py "127.0.0.1:$mail_port" "${TELEMED_DATA_DIR:-./var}/mail" &
  catcher=$!
  export TELEMED_SMTP_URL="smtp://127.0.0.1:$mail_port"
  export TELEMED_MAIL_FROM=${TELEMED_MAIL_FROM:-"Telemed demo <telemed@asl-demo.example>"}
fi
url="http://${TELEMED_HTTP_HOST:-127.0.0.1}:${TELEMED_HTTP_PORT:-8080}"
# The demo's "SPID / CIE": a development OpenID provider (node + oidc-provider), unless a
# real provider is configured. The demo citizen giuseppe.esposito is the demo patient.
sso=
if [ -z "${TELEMED_OIDC_ISSUER:-}" ]; then
  if "$PY" -m telemed.demo_sso --check; then
    sso_port=${OIDC_DEMO_PORT:-18090}
    "$PY" -m telemed.demo_sso --port "$sso_port" --public-url "${TELEMED_PUBLIC_URL:-$url}" &
    sso=$!
    export TELEMED_OIDC_ISSUER="http://127.0.0.1:$sso_port"
    export TELEMED_OIDC_CLIENT_ID=telemed-demo
    export TELEMED_OIDC_CLIENT_SECRET=telemed-demo-client-secret-not-for-production
  else
    echo "(to enable it: apt-get install nodejs npm, then make run again)" >&2
  fi
fi
"$PY" -m telemed serve &
server=$!
trap 'kill $server ${catcher} ${pacs} ${sso} 2>/dev/null; wait $server ${catcher} ${pacs} ${sso} 2>/dev/null' EXIT INT TERM
for _ in $(seq 60); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || exit 1
  sleep 0.5
done
echo
echo "Telemed is ready at $url/  (demo password: telemed-demo-2026; Ctrl-C stops it)"
if [ -n "$sso" ]; then echo "Sign in with SPID / CIE as the demo patient: at the provider's page, giuseppe.esposito (any password)"; fi
if [ -n "$catcher" ]; then echo "Emails are caught in ${TELEMED_DATA_DIR:-./var}/mail/ (index.log lists them)"; fi
if "$PY" -m telemed demo --help 2>/dev/null | grep -q -- "--devices-only"; then
  "$PY" -m telemed demo --devices-only &
fi
wait $server
