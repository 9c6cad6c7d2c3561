#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages writ needs to build, test and run its demo.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libssl-dev openssl libcbor-dev libp11-kit-dev softhsm2 opensc
  libcmocka-dev libsqlite3-dev sqlite3
  libmbedtls-dev libqrencode-dev libpng-dev zlib1g-dev
  python3-cbor2 python3-cryptography python3-yaml zbar-tools
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev curl jq
  libgnutls28-dev gnutls-bin libengine-pkcs11-openssl tshark
  postgresql libpq-dev wrk
  chromium
  libseccomp-dev libtss2-dev swtpm swtpm-tools tpm2-tools systemd util-linux
  libtpm2-pkcs11-1 tpm2-abrmd libtss2-tcti-tabrmd0 dbus-daemon
  debootstrap dpkg-dev
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# node and npm for the dashboard's browser test (playwright-core, scripts/browser-deps.sh):
# Debian's nodejs and npm, unless a node with npm is already installed (another
# distribution's nodejs package ships its own npm and conflicts with Debian's).
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  for p in nodejs npm; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: run as root or install sudo" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
