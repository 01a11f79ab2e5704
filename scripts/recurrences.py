#!/usr/bin/env python3
"""The recurrence census of docs/results.md: which of the first N targets (at least 36 terms, in
A-number order, as ingest keeps them) satisfy a linear recurrence with integer coefficients of
order at most 4, with or without a constant term, on all their known terms; and, given a
solutions.csv, how many of those are solved on all known terms, by order.

Usage: scripts/recurrences.py [../shared/data/oeis] [N=10000] [exports/report/solutions.csv]
"""
import csv
import gzip
import os
import sys
from fractions import Fraction
from collections import Counter
seqs=[]
OEIS = sys.argv[1] if len(sys.argv) > 1 else '../shared/data/oeis'
N = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
SOL = sys.argv[3] if len(sys.argv) > 3 else 'exports/report/solutions.csv'
for line in gzip.open(os.path.join(OEIS, 'stripped.gz'),'rt'):
    if not line.startswith('A'): continue
    a, rest = line.split(' ',1)
    t=[int(x) for x in rest.strip().strip(',').split(',') if x]
    if len(t)>=36: seqs.append((a,t))
    if len(seqs)>=N: break
def solve(rows, rhs):
    n=len(rows[0]); M=[[Fraction(x) for x in r]+[Fraction(b)] for r,b in zip(rows,rhs)]
    m=len(M); r=0; piv=[]
    for c in range(n):
        p=next((i for i in range(r,m) if M[i][c]!=0),None)
        if p is None: return None
        M[r],M[p]=M[p],M[r]
        for i in range(m):
            if i!=r and M[i][c]!=0:
                f=M[i][c]/M[r][c]; M[i]=[x-f*y for x,y in zip(M[i],M[r])]
        piv.append(c); r+=1
    return [M[i][n]/M[i][i] for i in range(n)]
def rec(t):
    for k in range(1,5):
        for const in (False,True):
            n=k+const
            for start in range(k, len(t)-n):
                rows=[[t[i-j] for j in range(1,k+1)]+([1] if const else []) for i in range(start,start+n)]
                s=solve(rows,[t[i] for i in range(start,start+n)])
                if s is None: continue
                if any(x.denominator!=1 for x in s): break
                c=[int(x) for x in s]
                if all(t[i]==sum(c[j-1]*t[i-j] for j in range(1,k+1))+(c[k] if const else 0) for i in range(k,len(t))):
                    return (k,const,c)
                break
    return None
cnt=Counter()
found={}
for a,t in seqs:
    r=rec(t)
    if r:
        k,const,c=r; cnt[(k,const)]+=1
        found[a]=(k,const)
print(sum(cnt.values()), 'recurrence targets of', len(seqs))
solved=set()
if os.path.exists(SOL):
    solved={r['id'] for r in csv.DictReader(open(SOL)) if r['all_terms']=='true'}
    print(len(solved & found.keys()), 'of them solved on all known terms in', SOL)
for key in sorted(cnt):
    k, const = key
    s = sum(1 for a, v in found.items() if v == key and a in solved)
    print(f"order {k} {'with' if const else 'without'} constant: {s} / {cnt[key]}")
