#!/usr/bin/env python3
"""What is left open, and how much of it is within reach of what is solved.

For the targets a store's report leaves open on all known terms, this census asks two questions,
independently of the Rust code (plain Python integers, the OEIS terms as the store holds them):

1. Reach by transforms: is the open target, up to an affine map and a shift of the index, a
   transform of a sequence the loop has solved on all known terms? Each transform is applied to
   every solved sequence; its values are reduced to a normal form (minus the first value, over
   the gcd, the sign of the first non-zero difference) on the first TERMS terms, and looked up
   among the open targets' normal forms (shifted by 0..2). The transforms are split by whether
   `mutate` spells them today (`spelled`: the parents' own affine forms, differences, partial
   sums and the further forms) or not (`not spelled`: Euler, inverse Euler, Möbius, inverse
   Möbius, INVERT, partial products, self-composition, characteristic functions, complements).
2. What the rest is: the open targets counted by the first words of their OEIS names
   ("Decimal expansion of", "Expansion of Product", "Number of partitions", ...).

A match on TERMS terms is a conjecture, not a solve: the census bounds what learning from the
solved sequences can reach; it proves nothing is solved.

Usage: scripts/census.py [--terms N] [--names K] [--max-terms M] [--list] [KEY=VALUE ...] (KEY=VALUE go to `seqsynth
query`, e.g. store.dir=...; SEQSYNTH names the binary). Prints a Markdown report.
"""

import argparse
import collections
import math
import sys

import seqsynth_query


def query(sql, overrides):
    return seqsynth_query.rows(sql, overrides, "census")


def normal(v):
    """The affine normal form of a list of ints (None when it is constant)."""
    d = [x - v[0] for x in v]
    g = 0
    for x in d:
        g = math.gcd(g, x)
    if g == 0:
        return None
    d = [x // g for x in d]
    first = next(x for x in d if x != 0)
    if first < 0:
        d = [-x for x in d]
    return tuple(d)


def divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def mobius(n):
    m, p, k = 1, 2, n
    while p * p <= k:
        if k % p == 0:
            k //= p
            if k % p == 0:
                return 0
            m = -m
        p += 1
    return -m if k > 1 else m


def binom_transform(a):
    n = len(a)
    return [sum(math.comb(i, k) * a[k] for k in range(i + 1)) for i in range(n)]


def inv_binom_transform(a):
    n = len(a)
    return [sum((-1) ** (i - k) * math.comb(i, k) * a[k] for k in range(i + 1)) for i in range(n)]


def euler(a):
    """Euler transform: prod (1 - x^k)^(-a_k), a indexed from 1; b_0 = 1 dropped."""
    n = len(a)
    c = [sum(d * a[d - 1] for d in divisors(i)) for i in range(1, n + 1)]
    b = [1]
    for i in range(1, n + 1):
        b.append(sum(c[k - 1] * b[i - k] for k in range(1, i + 1)) // i)
    return b[1:]


def inv_euler(b):
    n = len(b)
    bb = [1] + b
    c = []
    for i in range(1, n + 1):
        c.append(i * bb[i] - sum(c[k - 1] * bb[i - k] for k in range(1, i)))
    return [sum(mobius(i // d) * c[d - 1] for d in divisors(i)) // i for i in range(1, n + 1)]


def invert(a):
    """INVERT: 1 + sum b x^n = 1 / (1 - sum a x^n)."""
    b = []
    for i in range(len(a)):
        b.append(a[i] + sum(a[k] * b[i - k - 1] for k in range(i)))
    return b


def moebius_t(a):
    return [sum(mobius(n // d) * a[d - 1] for d in divisors(n)) for n in range(1, len(a) + 1)]


def divisor_sums(a):
    return [sum(a[d - 1] for d in divisors(n)) for n in range(1, len(a) + 1)]


def partial(a):
    out, s = [], 0
    for x in a:
        s += x
        out.append(s)
    return out


def products(a):
    out, s = [], 1
    for x in a:
        s *= x
        if abs(s) > 10**60:
            break
        out.append(s)
    return out


def diff(a):
    return [a[i + 1] - a[i] for i in range(len(a) - 1)]


def compose_self(a):
    out = []
    for x in a:
        if 1 <= x <= len(a):
            out.append(a[x - 1])
        else:
            break
    return out


def characteristic(a, n):
    s = set(a)
    if not all(x >= 0 for x in a) or any(a[i] >= a[i + 1] for i in range(len(a) - 1)):
        return []
    top = a[-1]
    return [1 if k in s else 0 for k in range(1, min(top, n) + 1)]


def complement(a, n):
    """The positive integers not in a (increasing, non-negative), as far as a's terms decide."""
    if a[0] < 0 or any(a[i] >= a[i + 1] for i in range(len(a) - 1)):
        return []
    s, out, k = set(a), [], 1
    while k < a[-1] and len(out) < n:
        if k not in s:
            out.append(k)
        k += 1
    return out


SPELLED = {
    "the sequence itself": lambda a, n: a,
    "first differences": lambda a, n: diff(a),
    "partial sums": lambda a, n: partial(a),
    "second differences": lambda a, n: diff(diff(a)),
    "double partial sums": lambda a, n: partial(partial(a)),
    "squares": lambda a, n: [x * x for x in a],
    "n times": lambda a, n: [(i + 1) * x for i, x in enumerate(a)],
    "divisor sums": lambda a, n: divisor_sums(a),
    "binomial transform": lambda a, n: binom_transform(a),
    "inverse binomial transform": lambda a, n: inv_binom_transform(a),
    "bisection a(2n)": lambda a, n: a[1::2],
    "bisection a(2n-1)": lambda a, n: a[0::2],
}
NOT_SPELLED = {
    "Euler transform": lambda a, n: euler(a),
    "inverse Euler transform": lambda a, n: inv_euler(a),
    "Moebius transform": lambda a, n: moebius_t(a),
    "INVERT transform": lambda a, n: invert(a),
    "partial products": lambda a, n: products(a),
    "self-composition a(a(n))": lambda a, n: compose_self(a),
    "characteristic function": lambda a, n: characteristic(a, n),
    "complement": lambda a, n: complement(a, n),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--terms", type=int, default=20, help="terms a match needs (default 20)")
    ap.add_argument("--names", type=int, default=25, help="name heads to list (default 25)")
    ap.add_argument("--max-terms", type=int, default=100, help="source terms used (default 100)")
    ap.add_argument("--list", action="store_true", help="list the targets matched on every term")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_intermixed_args()
    n = a.terms
    if n < 8:
        sys.exit("census: --terms must be at least 8")
    targets = query("SELECT id, name, terms FROM targets", a.overrides)
    solved = {r["id"] for r in query("SELECT DISTINCT id FROM solved WHERE all_terms", a.overrides)}
    terms = {}
    for t in targets:
        try:
            terms[t["id"]] = [int(x) for x in t["terms"]]
        except ValueError:
            sys.exit(f"census: target {t['id']} has a term that is not an integer")
    names = {t["id"]: t["name"] or "" for t in targets}
    open_ids = [i for i in terms if i not in solved]
    # the open targets' normal forms on n terms, at shifts 0..2
    index = collections.defaultdict(set)
    for i in open_ids:
        for s in range(3):
            v = terms[i][s : s + n]
            if len(v) == n:
                key = normal(v)
                if key is not None:
                    index[key].add((i, s))
    # per open target: the first (kind, transform, source) found on n terms, and on every term
    # the source's transform and the target both have
    reach, whole = {}, {}
    for label, table in (("spelled", SPELLED), ("not spelled", NOT_SPELLED)):
        for name, f in table.items():
            for sid in sorted(solved):
                src = terms[sid][: a.max_terms]
                try:
                    v = f(src, len(src))
                except (ValueError, ZeroDivisionError, OverflowError):
                    continue
                for s in range(3):
                    w = v[s : s + n]
                    if len(w) < n:
                        break
                    key = normal(w)
                    if key is None:
                        continue
                    for t, ts in index.get(key, ()):
                        reach.setdefault(t, (label, name, sid))
                        common = min(len(v) - s, len(terms[t]) - ts)
                        if normal(v[s : s + common]) == normal(terms[t][ts : ts + common]):
                            whole.setdefault(t, (label, name, sid))
    print(f"# Census of the open targets ({len(open_ids)} of {len(terms)} open on all known terms)\n")
    print(f"Within reach of a transform of one of the {len(solved)} solved sequences: a match on "
          f"{n} terms up to an affine map and a shift of 0..2, and of those, a match on every term "
          f"the transform (of the source's known terms, at most {a.max_terms}) and the target both have:\n")
    print(f"| transform | spelled by mutate today | on {n} terms | on every common term |")
    print("|---|---|---|---|")
    by = collections.Counter((lab, nm) for lab, nm, _ in reach.values())
    by_whole = collections.Counter((lab, nm) for lab, nm, _ in whole.values())
    for (lab, nm), c in sorted(by.items(), key=lambda kv: (kv[0][0] != "spelled", -kv[1])):
        print(f"| {nm} | {'yes' if lab == 'spelled' else 'no'} | {c} | {by_whole[(lab, nm)]} |")
    for label, d in (("on n terms", reach), ("on every common term", whole)):
        tot = collections.Counter(lab for lab, _, _ in d.values())
        print(f"\n{label}: **{len(d)}** open targets ({tot['spelled']} by a spelled transform, "
              f"{tot['not spelled']} by one mutate does not spell)", end="")
    print("\n")
    if a.list:
        for t in sorted(whole):
            lab, nm, sid = whole[t]
            print(f"- {t} ({names[t][:60]}): {nm} of {sid} ({names[sid][:40]})")
        print()
    heads = collections.Counter()
    for i in open_ids:
        words = names[i].replace(",", " ").replace(":", " ").split()
        heads[" ".join(words[:3])] += 1
    print(f"The open targets by the first three words of their names (the {a.names} commonest):\n")
    print("| name begins | open targets |")
    print("|---|---|")
    for h, c in heads.most_common(a.names):
        print(f"| {h} | {c} |")


if __name__ == "__main__":
    main()
