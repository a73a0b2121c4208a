#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle (dist/wlos-app/) and smoke-test it: the frozen app must
# analyse a clip from the command line and from its window (offscreen), finding the landmark model
# and the weights inside the bundle. Not run in CI (it takes minutes and about 1.5 GB).
#   scripts/build_bundle.sh [CLIP]     (default: the first clip of ../shared/data/grid_s1_sample)
set -euo pipefail
cd "$(dirname "$0")/.."
CLIP="${1:-$(ls ../shared/data/grid_s1_sample/*.mpg | head -1)}"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[bundle]"
.venv/bin/pyinstaller --noconfirm --clean app.spec
APP=dist/wlos-app/wlos-app
du -sh dist/wlos-app
echo "smoke test 1: command line"
"$APP" analyze "$CLIP"
echo "smoke test 2: the window (offscreen), analysing the clip and quitting"
SETTINGS=$(mktemp --suffix=.ini)
QT_QPA_PLATFORM=offscreen "$APP" --smoke-test --settings "$SETTINGS" "$CLIP"
rm -f "$SETTINGS"
echo "bundle OK: $APP"
