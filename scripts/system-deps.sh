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
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
fi

# axe-core for the browser tests' accessibility checks, from the npm registry, pinned by
# tools/node/axe/package-lock.json (installed into its git-ignored node_modules).
axe_deps() {
  [ "$purpose" = "test" ] || return 0
  local dir
  dir="$(dirname "$0")/../tools/node/axe"
  [ -f "$dir/node_modules/axe-core/axe.min.js" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: the accessibility checks need axe-core (apt-get install npm)" >&2
    [ "${CI:-}" = "true" ] && exit 1
    return 0
  fi
  echo "installing axe-core (npm ci in tools/node/axe)"
  (cd "$dir" && npm ci --no-audit --no-fund --silent) || {
    echo "npm ci in tools/node/axe failed" >&2
    [ "${CI:-}" = "true" ] && exit 1
    return 0
  }
}

if [ ${#need[@]} -eq 0 ]; then
  axe_deps
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
axe_deps
