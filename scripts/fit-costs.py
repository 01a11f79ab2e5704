#!/usr/bin/env python3
"""Fit the enumerator's primitive costs (`enumerate.costs`) to what a store's loop has found.

Reads the buffer after iteration ITER (every program with its priority: the solutions and the
near misses, weighted the paper's way) through `seqsynth query`, keeps the programs the
expression enumerator could write (no `loop`, `loop2`, `nth` or `if`; at most MAX_LEN tokens),
and weighs each primitive of `+ - * / % ** min max sqrt` by the summed priorities of its
occurrences. A primitive's cost is then

    clamp(1 + round(SCALE * log2(w_max / w)), 1, 8)

(Probe's costs, -log2 of the frequency, made relative to the commonest primitive, which costs
what a leaf costs). Prints `enumerate.costs=[...]`, an override for `seqsynth run`, and the
table it came from on stderr.

Usage: scripts/fit-costs.py ITER [--scale S] [--max-len N] [--up-to A005000] [KEY=VALUE ...]
(the KEY=VALUE arguments go to `seqsynth query`, e.g. store.dir=...; SEQSYNTH names the binary).
`--up-to` keeps only programs whose best target is at most that A-number (a held-out fit).
"""

import argparse
import math
import sys

import seqsynth_query

OPS = ["+", "-", "*", "/", "%", "**", "min", "max", "sqrt"]
NOT_EXPRESSIONS = {"loop", "loop2", "nth", "if"}


def fit(weights, scale):
    """The costs of OPS (in order) from their weights: the heaviest costs 1, a weight of 0 costs 8."""
    top = max(weights)
    if top <= 0:
        return [1] * len(weights)
    costs = []
    for w in weights:
        if w <= 0:
            costs.append(8)
        else:
            costs.append(max(1, min(8, 1 + round(scale * math.log2(top / w)))))
    return costs


def weigh(rows, max_len, up_to):
    """Summed priorities of each primitive's occurrences over the expression-shaped programs."""
    weights = [0.0] * len(OPS)
    kept = 0
    for program, priority, best in rows:
        tokens = program.split()
        if len(tokens) > max_len or NOT_EXPRESSIONS.intersection(tokens):
            continue
        if up_to is not None and (not best or int(best[1:]) > up_to):
            continue
        kept += 1
        for t in tokens:
            if t in OPS:
                weights[OPS.index(t)] += priority
    return weights, kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("iter", type=int, help="the buffer's iteration")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--max-len", type=int, default=48)
    ap.add_argument("--up-to", default=None, help="e.g. A005000: fit on those targets only")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_intermixed_args()
    if a.scale <= 0:
        sys.exit("fit-costs: --scale must be positive")
    up_to = None
    if a.up_to is not None:
        if not (a.up_to[:1] == "A" and a.up_to[1:].isdigit()):
            sys.exit(f"fit-costs: --up-to {a.up_to!r} is not an A-number like A005000")
        up_to = int(a.up_to[1:])
    sql = (
        "SELECT program, priority, best_target FROM buffer "
        f"WHERE iteration = {a.iter} AND priority > 0"
    )
    found = seqsynth_query.rows(sql, a.overrides, "fit-costs")
    rows = [(r["program"], float(r["priority"]), r["best_target"]) for r in found]
    if not rows:
        sys.exit(f"fit-costs: the buffer of iteration {a.iter} has no program with a priority")
    weights, kept = weigh(rows, a.max_len, up_to)
    costs = fit(weights, a.scale)
    total = sum(weights) or 1.0
    print(f"{kept} of {len(rows)} buffered programs are expressions", file=sys.stderr)
    for op, w, c in zip(OPS, weights, costs):
        print(f"{op:>5} {w / total:7.3f} {c}", file=sys.stderr)
    print("enumerate.costs=[" + ",".join(map(str, costs)) + "]")


if __name__ == "__main__":
    main()
