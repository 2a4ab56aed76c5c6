#!/usr/bin/env bash
# Build the cl100k vs tekken vs tokenlab-trained comparison report from shipped data and render it to PNG
# with headless Chromium (Debian: apt-get install chromium fonts-noto-core fonts-noto-cjk).
# Usage: scripts/screenshot_report.sh [OUT_DIR]    (default: build/report)
set -euo pipefail
OUT="${1:-build/report}"
mkdir -p "$OUT"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"

# 1. shipped data as text files; a small BPE trained on Python docs prose + the embedded demo corpus
tokenlab eval-data -o "$OUT/data"
DEMO="$(python -c 'from importlib.resources import files; print(files("tokenlab").joinpath("data/demo_corpus.txt"))')"
tokenlab train "$OUT/data/prose.txt" "$DEMO" --vocab-size 8000 --pretokenizer cl100k \
    --special '<|endoftext|>' -o "$OUT/trained.json" --no-progress

# 2. the one command that makes the report
tokenlab compare cl100k tekken "$OUT/trained.json" -c parallel -c code -o "$OUT/report.html" \
    --json "$OUT/report.json" --no-progress

# 3. screenshot
if [ -z "$CHROMIUM" ]; then
    echo "chromium not found; report is at $OUT/report.html (no screenshot)" >&2
    exit 0
fi
HTML="$(cd "$OUT" && pwd)/report.html"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --hide-scrollbars --screenshot="$(cd "$OUT" && pwd)/report.png" \
    --window-size=1400,3000 "file://$HTML" 2>/dev/null
echo "screenshot -> $OUT/report.png" >&2
