#!/usr/bin/env bash
# Installs Debian's firefox-esr for the Firefox browser tests (test/browser/firefox.test.ts) when
# it is missing. puppeteer-core drives this system binary over WebDriver BiDi (playwright-core's
# Firefox needs Playwright's patched build, which CI cannot download). Without a GPU, Firefox's
# WebGPU runs on Mesa's lavapipe through Vulkan (mesa-vulkan-drivers, installed for the engine);
# the tests set dom.webgpu.enabled and gfx.webgpu.ignore-blocklist.
set -euo pipefail
for f in firefox-esr firefox; do
  if command -v "$f" >/dev/null 2>&1; then
    echo "setup-firefox: $("$f" --version 2>/dev/null || echo "$f") already installed"
    exit 0
  fi
done
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends firefox-esr
echo "setup-firefox: installed $(firefox-esr --version)"
