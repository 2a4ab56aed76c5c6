#!/usr/bin/env bash
# Mutation testing (mutmut 3): one module and its tests at a time, in scratch copies under .mutation/.
# usage: scripts/mutation.sh [MODULE ...] [--max-children N] [--only GLOB]   e.g. scripts/mutation.sh specials.py encode/bpe.py
#        scripts/mutation.sh --list                            modules and the tests that check them
# Needs the `mutation` extra (pip install -e '.[test,mutation]'). Results: .mutation/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec "$PY" scripts/mutation.py --python "$PY" "$@"
