#!/usr/bin/env python3
"""Re-checks a candidates table (the `enumerate` stage's, or a `search@k`'s) by an independent
route: each program is rendered as Python (`seqsynth dsl python`, the prelude of
src/dsl/python.rs, which implements DESIGN.md section 2 on Python integers), run by CPython, and
compared with the OEIS terms read here from the source files, not from the store.

For every target it re-derives
- the paper's rule: on #0 = [1..35], some candidate's terms 26..35 equal the target's;
- all 35 terms: some candidate's terms 1..35 equal the target's;
- all known terms: some candidate evaluated on #0 = [1..n] (n = the target's known terms, at most
  100, with the step budget scaled by ceil(n/35)^2 as `verify` does) equals every one of them;

and prints the three counts, with the manifest's own counts when a manifest is given, for
comparison. Exits 1 when a manifest is given and its counts disagree.

Usage: scripts/recheck_candidates.py CANDIDATES.parquet [MANIFEST.json] [../shared/data/oeis]
       (SEQSYNTH=path/to/seqsynth chooses the binary; needs pyarrow, which the project's Python
       environment has)
"""
import json
import math
import os
import sys

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(__file__))
from recheck import dsl_limits, read_stripped, run_program  # noqa: E402

# the run's limits (SEQSYNTH_CONFIG, else pipeline.toml; see recheck.py)
L, FIRST, STEPS, EXP = dsl_limits(os.environ.get("SEQSYNTH_CONFIG", "pipeline.toml"))
MAX_TERMS = 100


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    cands = pq.read_table(sys.argv[1]).to_pydict()
    manifest = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2].endswith(".json") else None
    oeis = [a for a in sys.argv[2:] if not a.endswith(".json")]
    oeis = oeis[0] if oeis else "../shared/data/oeis"
    seqsynth = os.environ.get("SEQSYNTH", os.path.expanduser(
        "~/.cache/seqsynth/target/release/seqsynth"))
    known = read_stripped(oeis)
    window, all35, strict = set(), set(), set()
    for target, program in zip(cands["id"], cands["program"]):
        terms = known[target]
        out = run_program(seqsynth, program, L, STEPS, EXP)
        if not isinstance(out, list) or len(out) < L:
            continue
        if out[FIRST:L] == terms[FIRST:L]:
            window.add(target)
        if out[:L] == terms[:L]:
            all35.add(target)
            n = min(len(terms), MAX_TERMS)
            scale = math.ceil(n / L) ** 2
            out_n = run_program(seqsynth, program, n, STEPS * scale, EXP)
            if isinstance(out_n, list) and out_n == terms[:n]:
                strict.add(target)
    print(f"{len(cands['id'])} candidates for {len(set(cands['id']))} targets re-checked in "
          f"Python: {len(window)} targets by terms 26..35, {len(all35)} on all 35 terms, "
          f"{len(strict)} on all known terms (at most {MAX_TERMS})")
    if manifest:
        m = json.load(open(manifest))
        c = m.get("counters", m)
        claimed = (c.get("solved_window"), c.get("solved_all_terms"))
        print(f"the manifest says: {claimed[0]} by terms 26..35, {claimed[1]} on all 35 terms")
        if claimed != (len(window), len(all35)):
            print("DISAGREES")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
