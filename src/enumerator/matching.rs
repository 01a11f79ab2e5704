//! Matching against the targets: a level's (or a family's) hits, kept per target and kind of
//! match, and their merge into the per-target candidates.

use super::*;

/// A match found while building a level.
pub(super) struct Hit {
    pub(super) target: u32,
    pub(super) category: Category,
    pub(super) size: u32,
    pub(super) order: u128,
    pub(super) key: u128,
    pub(super) expr: Expr,
}

/// A hit's expression.
pub(super) enum Expr {
    /// A node whose children are in the arena.
    Node(Node),
    /// The program, as a shard spelled it.
    Spelled(String),
}

impl Expr {
    pub(super) fn spell(&self, arena: &Arena) -> String {
        match self {
            Expr::Node(n) => spell_new(arena, *n),
            Expr::Spelled(p) => p.clone(),
        }
    }
}

/// Collects a task's hits, in increasing order, keeping per target and category only the first
/// `per_target` distinct vectors (the only ones that can be kept) and none for a target and
/// category that earlier levels already filled.
pub(super) struct Hits<'a> {
    pub(super) full: &'a [[bool; 3]],
    pub(super) per_target: usize,
    pub(super) kept: HashMap<(u32, Category), Vec<u128>>,
    pub(super) hits: Vec<Hit>,
}

impl<'a> Hits<'a> {
    pub(super) fn new(full: &'a [[bool; 3]], per_target: usize) -> Self {
        Hits {
            full,
            per_target,
            kept: HashMap::new(),
            hits: Vec::new(),
        }
    }

    /// Whether a hit of this target, category and vector would be kept by [`Hits::push`].
    pub(super) fn wants(&self, target: u32, category: Category, key: u128) -> bool {
        if self.full[target as usize][category as usize] {
            return false;
        }
        self.kept
            .get(&(target, category))
            .is_none_or(|keys| keys.len() < self.per_target && !keys.contains(&key))
    }

    pub(super) fn push(&mut self, h: Hit) {
        if self.full[h.target as usize][h.category as usize] {
            return;
        }
        let keys = self.kept.entry((h.target, h.category)).or_default();
        if keys.len() >= self.per_target || keys.contains(&h.key) {
            return;
        }
        keys.push(h.key);
        self.hits.push(h);
    }
}

/// Adds a hit of one target to that target's hits, keeping per category only the `per_target`
/// smallest distinct vectors (and per vector the smallest program).
pub(super) fn keep(hits: &mut Vec<Hit>, h: Hit, per_target: usize) {
    let rank = |h: &Hit| (h.size, h.order);
    if let Some(old) = hits.iter_mut().find(|o| o.key == h.key) {
        if rank(&h) < rank(old) {
            *old = h;
        }
        return;
    }
    let same: Vec<usize> = (0..hits.len())
        .filter(|&i| hits[i].category == h.category)
        .collect();
    if same.len() < per_target {
        hits.push(h);
        return;
    }
    let worst = *same
        .iter()
        .max_by_key(|&&i| rank(&hits[i]))
        .expect("a full category");
    if rank(&h) < rank(&hits[worst]) {
        hits[worst] = h;
    }
}

/// Targets with a candidate of this category or a better one.
pub(super) fn solved(best: &[Vec<Candidate>], at_least: Category) -> usize {
    best.iter()
        .filter(|c| c.iter().any(|c| c.category <= at_least))
        .count()
}

/// Matches a stored level's vectors against the targets.
pub(super) fn match_level(
    arena: &Arena,
    index: &TargetIndex,
    size: u32,
    full: &[[bool; 3]],
    per_target: usize,
) -> Vec<Hit> {
    let ids: Vec<u32> = arena.level(size).collect();
    let split = index.split();
    ids.par_chunks(4096)
        .flat_map_iter(|chunk| {
            let mut out = Hits::new(full, per_target);
            for &id in chunk {
                let v = arena.vals(id);
                let k = key(v, split);
                index.matches(v, index.match_key(v, k), |t, category| {
                    out.push(Hit {
                        target: t,
                        category,
                        size,
                        order: id as u128,
                        key: k,
                        expr: Expr::Node(arena.nodes[id as usize]),
                    })
                });
            }
            out.hits
        })
        .collect()
}

/// Adds hits to the per-target candidates: per target and category, the first `per_target`
/// distinct vectors (of two with one vector, the smaller program); only those are spelled.
pub(super) fn merge(
    arena: &Arena,
    best: &mut [Vec<Candidate>],
    mut hits: Vec<Hit>,
    per_target: usize,
) {
    hits.par_sort_unstable_by_key(|h| (h.target, h.category, h.size, h.order));
    for h in hits {
        let c = &mut best[h.target as usize];
        if let Some(old) = c.iter_mut().find(|c| c.key == h.key) {
            if (h.size, h.order) < (old.size, old.order) {
                (old.size, old.order) = (h.size, h.order);
                old.program = h.expr.spell(arena);
            }
            continue;
        }
        if c.iter().filter(|c| c.category == h.category).count() >= per_target {
            // keep the smaller ones
            let worst = c
                .iter_mut()
                .filter(|c| c.category == h.category)
                .max_by_key(|c| (c.size, c.order))
                .expect("a full category");
            if (h.size, h.order) >= (worst.size, worst.order) {
                continue;
            }
            (worst.size, worst.order, worst.key) = (h.size, h.order, h.key);
            worst.program = h.expr.spell(arena);
            continue;
        }
        c.push(Candidate {
            category: h.category,
            size: h.size,
            order: h.order,
            key: h.key,
            program: h.expr.spell(arena),
        });
    }
}

/// Adds a family's hits as candidates of their own, beside the `per_target` kept ones (unless
/// the same program is there): for the `linrec` family, whose programs are fitted on all of a
/// target's known terms, so that an expression that agrees with one on the matched terms and
/// is wrong later cannot keep it out. Near misses (the prefix) are merged as usual.
pub(super) fn merge_extra(
    arena: &Arena,
    best: &mut [Vec<Candidate>],
    mut hits: Vec<Hit>,
    per_target: usize,
) {
    hits.sort_by_key(|h| (h.target, h.category, h.size, h.order));
    let (near, hits): (Vec<Hit>, Vec<Hit>) = hits
        .into_iter()
        .partition(|h| h.category == Category::Prefix);
    merge(arena, best, near, per_target);
    for h in hits {
        let c = &mut best[h.target as usize];
        let program = h.expr.spell(arena);
        if c.iter().any(|c| c.program == program) {
            continue;
        }
        c.push(Candidate {
            category: h.category,
            size: h.size,
            order: h.order,
            key: h.key,
            program,
        });
    }
}

/// Per target, which kinds of match already hold `per_target` candidates (nothing more of that
/// kind can enter).
pub(super) fn full_categories(best: &[Vec<Candidate>], per_target: usize) -> Vec<[bool; 3]> {
    best.iter()
        .map(|c| {
            let n = |k| c.iter().filter(|c| c.category == k).count() >= per_target;
            [n(Category::All), n(Category::Window), n(Category::Prefix)]
        })
        .collect()
}
