//! Shards of an enumeration (`enumerate#i/N`, docs/distributed.md): which part of the work a
//! call does, what a shard hands to the merge, and the conversions of its matches.

use super::*;

/// Which part of the work a call does (`enumerate#i/N`, docs/distributed.md).
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// All of it.
    Whole,
    /// Shard `index` of `count`: the stored levels in full (every shard needs them), then the
    /// last level's jobs `j` with `j mod count = index`, and the inverse step for the targets
    /// `t` with `t mod count = index`.
    Shard { index: u32, count: u32 },
    /// The whole outcome from every shard's part: the stored levels computed again, the last
    /// level's and the inverse step's matches taken from the shards. The same outcome as
    /// [`Part::Whole`], since a level's matches are the union of its jobs' matches and the
    /// inverse step's are the union of its targets'.
    Merge(&'a [ShardPart]),
}

impl Part<'_> {
    /// Whether this part computes item `i` of the split work (the last level's job `i`, the
    /// inverse step's target `i`): the whole all of them, shard k of N every N-th from k, a
    /// merge none (it takes them from the shards).
    pub(super) fn owns(&self, i: usize) -> bool {
        match *self {
            Part::Whole => true,
            Part::Shard { index, count } => i as u64 % u64::from(count) == u64::from(index),
            Part::Merge(_) => false,
        }
    }
}

/// What one shard computed of the last level and of the inverse step.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPart {
    /// The stored levels' figures as the shard computed them ([`stored_fingerprint`]): the
    /// merge checks that its own are the same.
    pub stored: String,
    /// The last (matched) level's size.
    pub size: u32,
    /// The shard's part of the last level's figures.
    pub evaluated: u64,
    pub errors: u64,
    pub new: u64,
    pub seconds: f64,
    /// The shard's inverse matches (`None`: no inverse step).
    pub inverse_found: Option<u64>,
    /// The matches, in no particular order.
    pub hits: Vec<ShardHit>,
}

/// A match found by a shard, its program spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardHit {
    /// Found by the inverse step (else by the last level).
    pub inverse: bool,
    pub target: u32,
    pub category: Category,
    pub size: u32,
    pub order: u128,
    pub key: u128,
    pub program: String,
}

/// The deterministic figures of the stored levels, as text (wall times and memory left out).
pub fn stored_fingerprint(levels: &[Level]) -> String {
    levels
        .iter()
        .filter(|l| l.mode == "stored")
        .map(Level::figures)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Hit {
    pub(super) fn to_shard(&self, arena: &Arena, inverse: bool) -> ShardHit {
        ShardHit {
            inverse,
            target: self.target,
            category: self.category,
            size: self.size,
            order: self.order,
            key: self.key,
            program: self.expr.spell(arena),
        }
    }
}

impl ShardHit {
    pub(super) fn to_hit(&self) -> Hit {
        Hit {
            target: self.target,
            category: self.category,
            size: self.size,
            order: self.order,
            key: self.key,
            expr: Expr::Spelled(self.program.clone()),
        }
    }
}
