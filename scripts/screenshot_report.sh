#!/usr/bin/env bash
# Build the cl100k vs tekken vs tokenlab-trained comparison report from shipped data (one command) and render
# it to PNG with headless Chromium (Debian: apt-get install chromium fonts-noto-core fonts-noto-cjk).
# Usage: scripts/screenshot_report.sh [OUT_DIR]    (default: build/report)
set -euo pipefail
OUT="${1:-build/report}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"

# The one command: train:prose is a byte-level BPE (8000 tokens, cl100k pre-tokenizer) trained on the
# Python docs shipped with the interpreter; parallel = Django translations (24 languages), code = Python stdlib.
tokenlab compare cl100k tekken train:prose -c parallel -c code -o "$OUT/report.html" --json "$OUT/report.json" \
    --no-progress

if [ -z "$CHROMIUM" ]; then
    echo "chromium not found; the report is $OUT/report.html (no screenshot)" >&2
    exit 0
fi
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --screenshot="$OUT/report.png" --window-size=1400,3000 \
    "file://$OUT/report.html" 2>/dev/null
echo "screenshot -> $OUT/report.png" >&2
