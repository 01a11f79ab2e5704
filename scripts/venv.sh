#!/usr/bin/env bash
# Creates (or reuses) a Python environment and prints its path: scripts/venv.sh VENV WHAT REQ...
# installs the requirement files REQ... into VENV, and rebuilds it when their contents change
# (their sha256, kept in VENV/.requirements.sha256). WHAT says what is downloaded, for the one
# line printed when it is built. One setup at a time (tests call this in parallel): it waits for
# VENV.lock, then checks again. The train stage's environment (scripts/setup-python.sh) and the
# Ray driver's (stages/ray/setup.sh) are made by it.
set -euo pipefail
venv="$1"
what="$2"
shift 2
want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi
echo "setting up $what in $venv" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
reqs=()
for r in "$@"; do
  reqs+=(-r "$r")
done
"$venv/bin/python" -m pip install --quiet "${reqs[@]}" >&2
echo "$want" > "$venv/.requirements.sha256"
echo "$venv"
