#!/usr/bin/env bash
# Creates (or reuses) the Python environment of the Ray driver and prints its path. It lives
# outside the clone ($SEQSYNTH_RAY_VENV, default $HOME/.cache/seqsynth/ray-venv) and is rebuilt
# when stages/ray/requirements.txt changes. Only the Ray driver needs it: a plain `seqsynth run`
# never does.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SEQSYNTH_RAY_VENV:-$HOME/.cache/seqsynth/ray-venv}"
req="$here/requirements.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" = "$want" ]; then
  echo "$venv"
  exit 0
fi
echo "setting up the Ray environment in $venv (downloads Ray, ~80 MB)" >&2
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet -r "$req" >&2
echo "$want" > "$venv/.requirements.sha256"
echo "$venv"
