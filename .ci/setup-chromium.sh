#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (test/browser/) when it is missing.
# playwright-core drives this system binary: Playwright's own browser downloads cannot be
# reached from CI. Without a GPU, Chromium gives WebGPU through its bundled SwiftShader adapter
# when started with --enable-unsafe-webgpu (the tests pass that flag, and --no-sandbox for root).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "setup-chromium: $(chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium
echo "setup-chromium: installed $(chromium --version)"
