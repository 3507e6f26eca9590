#!/usr/bin/env bash
# Debian packages glitchzap's tests and server use; installs only what is missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qi "DejaVuSans-Bold" || need+=(fonts-dejavu-core)
ls /usr/share/fonts/truetype/liberation*/LiberationSans-Bold.ttf >/dev/null 2>&1 || need+=(fonts-liberation2)
# Colour emoji in captions (meme/emoji.py), as memegen draws them.
ls /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf >/dev/null 2>&1 || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
  echo "system-deps: please install: ${need[*]} (apt-get), then run make again" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "system-deps: installing ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
