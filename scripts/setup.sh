#!/usr/bin/env bash
# Set up WLOS Sync on a fresh Debian machine: system libraries, a virtualenv in .venv, the package.
#   scripts/setup.sh          # the app
#   scripts/setup.sh --test   # the app and what the tests need
# Every pip call goes through constraints.txt, which pins torch to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(libportaudio2 libpulse0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
      libxcb-xinerama0 libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxcb-cursor0 libxkbcommon0
      libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 xvfb)
# The tests read exported files back with Debian's ffmpeg, as players present them (tests/ffref.py).
[ "${1:-}" = "--test" ] && DEBS+=(ffmpeg)
missing=()
for d in "${DEBS[@]}"; do dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages (install them as root): ${missing[*]}" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".${extra}" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
.venv/bin/python -c "import wlos_app, torch, cv2, dlib, av; print('WLOS Sync ready: torch', torch.__version__)"
