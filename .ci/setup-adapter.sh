#!/usr/bin/env bash
# Makes a WebGPU adapter available on a GPU-less Debian 12 machine: Dawn needs Vulkan 1.1+
# features that bookworm's Mesa 22.3 lacks, so install lavapipe from bookworm-backports (Mesa 25).
# Idempotent: does nothing when an lvp ICD is already installed.
set -euo pipefail
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "setup-adapter: lavapipe already installed"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "setup-adapter: need root to install Mesa's lavapipe" >&2; exit 1; fi
src=/etc/apt/sources.list.d/backports.sources
if [ ! -f "$src" ]; then
  # Same mirror and key as the existing bookworm entry.
  cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "setup-adapter: installed $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) lavapipe"
