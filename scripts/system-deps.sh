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
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
fi
# The development OpenID provider (tools/node/oidc: oidc-provider from the npm registry, as
# pinned by its package-lock.json) for the single sign-on tests and the demo's "SPID / CIE".
oidc_provider() {
  local dir; dir="$(dirname "$0")/../tools/node/oidc"
  [ -d "$dir/node_modules/oidc-provider" ] && return 0
  if command -v npm >/dev/null 2>&1; then
    echo "installing the test OpenID provider (npm ci in tools/node/oidc)"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null
  elif [ "$purpose" = "run" ]; then
    echo "note: without node and npm the demo has no SPID / CIE sign-in (apt-get install nodejs npm)" >&2
  fi
}
trap oidc_provider EXIT
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ]; then
  echo "missing system packages: ${need[*]} (run as root or: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
