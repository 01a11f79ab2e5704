"""`seqsynth query` from Python, for the analysis scripts (census.py, fit-costs.py).

`rows(sql, overrides, who)` runs the binary that SEQSYNTH names (default: `seqsynth` on the
PATH) with `--format json -q` and the KEY=VALUE `overrides`, and returns the result's rows as
dicts; a missing binary or a failed query ends the script with a message that starts with `who`.
"""

import json
import os
import subprocess
import sys


def rows(sql, overrides, who):
    binary = os.environ.get("SEQSYNTH", "seqsynth")
    try:
        out = subprocess.run(
            [binary, "query", sql, "--format", "json", "-q", *overrides],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except FileNotFoundError:
        sys.exit(f"{who}: no {binary} to run (set SEQSYNTH to the seqsynth binary)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"{who}: `seqsynth query` failed (status {e.returncode}): {e.stderr.strip()}")
    return json.loads(out)
