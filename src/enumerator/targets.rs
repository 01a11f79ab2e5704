//! Targets indexed by the hashes of their parts, and the hashing of value vectors.
//!
//! A vector of `L` values is split at `P` (`train.input_terms`): the prefix (terms 1..P, what
//! the policy sees) and the window (terms P+1..L, what the paper's rule judges). Both parts are
//! hashed with the same function for vectors and targets, so a lookup costs two hashes; a hit is
//! then confirmed on the values, so a hash collision can never make a false match. The pair of
//! hashes is also the vector's identity for observational equivalence (128 bits: a collision
//! could only drop a vector as a duplicate, never emit a wrong program).

use super::vals::Vals;
use crate::dsl::Num;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = (v as u64) ^ ((v >> 64) as u64).rotate_left(17);
    }
}

pub type IdBuild = BuildHasherDefault<IdHasher>;

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    let h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The code of one value: its bits when it fits `i64`, a digest of its digits otherwise.
#[inline]
fn code(n: &Num) -> u64 {
    match n {
        Num::Small(v) => *v as u64,
        Num::Big(b) => {
            // the sign and the number of limbs are steps of their own: folding them into the
            // seed would let them cancel against the first limb (-2^64 against 2^64 + 1)
            let mut h = mix(0xB16_B16, 1 + (b.sign() == num_bigint::Sign::Minus) as u64);
            for d in b.magnitude().iter_u64_digits() {
                h = mix(h, d);
            }
            mix(h, b.magnitude().bits())
        }
    }
}

/// Hash of positions `range` of a vector.
pub fn part(v: Vals, range: std::ops::Range<usize>, seed: u64) -> u64 {
    let mut h = seed ^ (range.len() as u64);
    match v {
        Vals::Small(s) => {
            for &x in &s[range] {
                h = mix(h, x as u64);
            }
        }
        Vals::Big(b) => {
            for x in &b[range] {
                h = mix(h, code(x));
            }
        }
    }
    mix(h, 0x51_7CC1_B727_220A)
}

pub const PREFIX_SEED: u64 = 0x243F_6A88_85A3_08D3;
pub const WINDOW_SEED: u64 = 0x1319_8A2E_0370_7344;

/// The identity of a vector: (prefix hash, window hash).
pub fn key(v: Vals, split: usize) -> u128 {
    let n = v.len();
    ((part(v, 0..split, PREFIX_SEED) as u128) << 64) | part(v, split..n, WINDOW_SEED) as u128
}

/// How well a vector matches a target, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// Every one of the `L` terms.
    All = 0,
    /// The window (the paper's rule), not the prefix.
    Window = 1,
    /// The prefix only: a near miss (the policy's view of the target).
    Prefix = 2,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::All, Category::Window, Category::Prefix];

    pub fn name(self) -> &'static str {
        match self {
            Category::All => "all",
            Category::Window => "window",
            Category::Prefix => "prefix",
        }
    }

    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The targets by the hashes of their parts.
pub struct TargetIndex {
    terms: Vec<Vec<Num>>,
    split: usize,
    /// The window's end: the paper's rule and the prefix match on positions 0..len.
    len: usize,
    /// The vectors' length (at least `len`): an all-terms match also agrees on len..long,
    /// as far as the target has terms.
    long: usize,
    prefix: HashMap<u64, Vec<u32>, IdBuild>,
    window: HashMap<u64, Vec<u32>, IdBuild>,
}

impl TargetIndex {
    /// `terms[t]`: target t's known terms (at least the first `len` are used); `split`: P.
    pub fn new(terms: Vec<Vec<Num>>, split: usize, len: usize) -> TargetIndex {
        TargetIndex::with_long(terms, split, len, len)
    }

    /// [`TargetIndex::new`] for vectors of `long >= len` values: the window is still
    /// split..len, and an all-terms match must also agree on len..long (where the target has
    /// those terms).
    pub fn with_long(terms: Vec<Vec<Num>>, split: usize, len: usize, long: usize) -> TargetIndex {
        let mut prefix: HashMap<u64, Vec<u32>, IdBuild> = HashMap::default();
        let mut window: HashMap<u64, Vec<u32>, IdBuild> = HashMap::default();
        for (t, ts) in terms.iter().enumerate() {
            if ts.len() >= split {
                let h = part(Vals::Big(&ts[..split]), 0..split, PREFIX_SEED);
                prefix.entry(h).or_default().push(t as u32);
            }
            if ts.len() >= len {
                let h = part(Vals::Big(&ts[..len]), split..len, WINDOW_SEED);
                window.entry(h).or_default().push(t as u32);
            }
        }
        TargetIndex {
            terms,
            split,
            len,
            long: long.max(len),
            prefix,
            window,
        }
    }

    /// The window's end (the matched length).
    pub fn match_len(&self) -> usize {
        self.len
    }

    /// The key `matches` looks up for a vector whose identity (its [`key`]) is `identity`: the
    /// identity itself when the vectors are the matched length, else its prefix half with the
    /// window hashed on split..len.
    pub fn match_key(&self, v: Vals, identity: u128) -> u128 {
        if v.len() == self.len {
            identity
        } else {
            (identity >> 64 << 64) | part(v, self.split..self.len, WINDOW_SEED) as u128
        }
    }

    /// Target t's known terms (as many as the vectors are long, where it has them).
    pub fn terms(&self, t: u32) -> &[Num] {
        &self.terms[t as usize]
    }

    pub fn len(&self) -> usize {
        self.terms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// P: the prefix's length.
    pub fn split(&self) -> usize {
        self.split
    }

    /// Calls `hit(target, category)` for every target the vector (with match key `key`,
    /// [`TargetIndex::match_key`]) matches.
    pub fn matches(&self, v: Vals, key: u128, mut hit: impl FnMut(u32, Category)) {
        let (hp, hw) = ((key >> 64) as u64, key as u64);
        let (p, l) = (self.split, self.len);
        let mut windowed: Vec<u32> = Vec::new();
        if let Some(ts) = self.window.get(&hw) {
            for &t in ts {
                let tt = &self.terms[t as usize];
                if equal(v, tt, p..l) {
                    windowed.push(t);
                    let tail = l..self.long.min(tt.len()).min(v.len()).max(l);
                    let c = if equal(v, tt, 0..p) && equal(v, tt, tail) {
                        Category::All
                    } else {
                        Category::Window
                    };
                    hit(t, c);
                }
            }
        }
        if let Some(ts) = self.prefix.get(&hp) {
            for &t in ts {
                if !windowed.contains(&t) && equal(v, &self.terms[t as usize], 0..p) {
                    hit(t, Category::Prefix);
                }
            }
        }
    }
}

fn equal(v: Vals, t: &[Num], range: std::ops::Range<usize>) -> bool {
    range.into_iter().all(|i| match (v, &t[i]) {
        (Vals::Small(s), Num::Small(x)) => s[i] == *x,
        (Vals::Small(_), Num::Big(_)) => false,
        (Vals::Big(b), n) => &b[i] == n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_with_alike_limbs_have_distinct_keys() {
        let two64: Num = "18446744073709551616".parse().unwrap();
        let vals = |n: &Num| vec![n.clone(); 4];
        let cases = [
            two64.clone(),
            Num::from(-two64.to_big()),
            Num::from(two64.to_big() + 1),
            Num::from(-two64.to_big() - 1),
            Num::from(two64.to_big() * two64.to_big()),
        ];
        let keys: std::collections::HashSet<u128> =
            cases.iter().map(|n| key(Vals::Big(&vals(n)), 2)).collect();
        assert_eq!(keys.len(), cases.len());
    }

    #[test]
    fn small_and_exact_vectors_hash_alike_and_match_by_value() {
        let small: Vec<i64> = (1..=6).map(|n| n * n).collect();
        let big: Vec<Num> = small.iter().map(|&v| Num::Small(v)).collect();
        assert_eq!(key(Vals::Small(&small), 3), key(Vals::Big(&big), 3));
        let mut other = big.clone();
        other[4] = Num::Small(0); // same prefix, another window
        let mut shifted = big.clone();
        shifted[0] = Num::Small(7); // same window, another prefix
        let idx = TargetIndex::new(vec![big.clone(), other, shifted], 3, 6);
        let mut hits = Vec::new();
        idx.matches(Vals::Small(&small), key(Vals::Small(&small), 3), |t, c| {
            hits.push((t, c))
        });
        hits.sort();
        assert_eq!(
            hits,
            vec![
                (0, Category::All),
                (1, Category::Prefix),
                (2, Category::Window)
            ]
        );
    }
}
