//! Levels and budgets: the jobs of a size level, building it (in parallel, into sharded maps,
//! with the time and memory budgets), numbering it into the arena, and the order keys.

use super::*;

/// A unit of parallel work: candidates of one kind.
#[derive(Clone, Debug)]
pub(super) enum Job {
    /// Size 1: `#1`, then the constants 0..9.
    Leaves,
    Unary(Prim, std::ops::Range<u32>),
    /// Left ids × right ids; `half`: only b ≥ a (a commutative primitive within one level).
    Binary {
        prim: Prim,
        left: std::ops::Range<u32>,
        right: std::ops::Range<u32>,
        half: bool,
    },
    Fold(IndexSet, FoldOp, std::ops::Range<u32>),
}

impl Job {
    pub(super) fn work(&self) -> u64 {
        match self {
            Job::Leaves => LEAVES,
            Job::Unary(_, r) | Job::Fold(_, _, r) => r.len() as u64,
            Job::Binary {
                left, right, half, ..
            } => {
                if *half {
                    left.clone()
                        .map(|a| (right.end - a.max(right.start)) as u64)
                        .sum()
                } else {
                    left.len() as u64 * right.len() as u64
                }
            }
        }
    }
}

pub(super) fn commutative(p: Prim) -> bool {
    matches!(p, Prim::Add | Prim::Mul | Prim::Min | Prim::Max)
}

pub(super) fn kind(p: Prim) -> u128 {
    OPS.iter()
        .position(|&o| o == p)
        .expect("an enumerated primitive") as u128
}

pub(super) fn fold_kind(set: IndexSet, op: FoldOp) -> u128 {
    16 + 2 * set as u128 + op as u128
}

pub(super) fn order(kind: u128, a: u32, b: u32) -> u128 {
    (kind << 64) | ((a as u128) << 32) | b as u128
}

/// A candidate expression that passed the checks, with its vector in the task's buffer.
pub(super) struct Found<'a> {
    pub(super) node: Node,
    pub(super) order: u128,
    pub(super) steps: u64,
    pub(super) folded: bool,
    pub(super) key: u128,
    pub(super) vals: Vals<'a>,
}

/// An expression of the level being built.
pub(super) struct Pending {
    pub(super) key: u128,
    pub(super) order: u128,
    pub(super) node: Node,
    pub(super) steps: u64,
    pub(super) folded: bool,
    /// Index into the shard's `small` (× len) or, with `BIG`, its `big`.
    pub(super) slot: u32,
}

#[derive(Default)]
pub(super) struct Shard {
    pub(super) map: HashMap<u128, u32, IdBuild>,
    pub(super) entries: Vec<Pending>,
    pub(super) small: Vec<i64>,
    pub(super) big: Vec<Vec<Num>>,
}

pub(super) struct Counts {
    pub(super) evaluated: AtomicU64,
    pub(super) errors: AtomicU64,
    pub(super) new: AtomicU64,
}

/// New distinct vectors a level may add: the last level's count times its growth, at most the
/// level's work.
pub(super) fn estimate_new(levels: &[Level], work: u64) -> u64 {
    let news: Vec<u64> = levels
        .iter()
        .filter(|l| l.mode == "stored")
        .map(|l| l.new.max(1))
        .collect();
    let est = match news.as_slice() {
        [.., a, b] => (*b as f64 * (*b as f64 / *a as f64).max(1.0)) as u64,
        [b] => *b * 10,
        [] => 0,
    };
    est.min(work)
}

/// The jobs of level `size`, in order-key order.
pub(super) fn jobs(
    arena: &Arena,
    s: &Settings,
    sets: &[(IndexSet, Vec<Vec<u32>>)],
    size: u32,
) -> Vec<Job> {
    if size == 1 {
        return vec![Job::Leaves];
    }
    let mut jobs = Vec::new();
    let chunks = |r: std::ops::Range<u32>, per: u64| -> Vec<std::ops::Range<u32>> {
        let step = (TASK / per.max(1)).max(1) as u32;
        (r.start..r.end)
            .step_by(step as usize)
            .map(|a| a..(a + step).min(r.end))
            .collect()
    };
    for &p in OPS.iter().filter(|p| s.ops.contains(p)) {
        // the children's levels sum to size - cost(p)
        let cost = s.costs[kind(p) as usize];
        if cost >= size {
            continue;
        }
        let rest = size - cost;
        if p == Prim::Sqrt {
            for c in chunks(arena.level(rest), 1) {
                jobs.push(Job::Unary(p, c));
            }
            continue;
        }
        for i in 1..rest {
            let j = rest - i;
            if commutative(p) && i > j {
                continue;
            }
            let (left, right) = (arena.level(i), arena.level(j));
            for c in chunks(left, right.len() as u64) {
                jobs.push(Job::Binary {
                    prim: p,
                    left: c,
                    right: right.clone(),
                    half: commutative(p) && i == j,
                });
            }
        }
    }
    if size > s.fold_size {
        for (set, _) in sets {
            for op in FoldOp::ALL {
                for c in chunks(arena.level(size - s.fold_size), 1) {
                    jobs.push(Job::Fold(*set, op, c));
                }
            }
        }
    }
    jobs
}

pub(super) enum LevelCounts {
    Stored(Vec<Shard>, u64, u64),
    Matched(u64, u64, u64),
}

pub(super) enum LevelResult {
    Done(Vec<Hit>, LevelCounts),
    TimeUp,
    OutOfMemory,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn build_level(
    arena: &Arena,
    s: &Settings,
    sets: &[(IndexSet, Vec<Vec<u32>>)],
    ev: &Evaluator,
    index: &TargetIndex,
    jobs: &[Job],
    stored: bool,
    deadline: Option<Instant>,
    size: u32,
    full: &[[bool; 3]],
    progress: &(dyn Fn(Progress) + Sync),
) -> LevelResult {
    let len = arena.len;
    let max_steps = ev.limits().max_steps;
    let shards: Vec<Mutex<Shard>> = (0..SHARDS).map(|_| Mutex::default()).collect();
    let counts = Counts {
        evaluated: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        new: AtomicU64::new(0),
    };
    let pending_bytes = AtomicU64::new(0);
    let budget = s.max_bytes.saturating_sub(arena.bytes());
    let (time_up, out_of_memory) = (AtomicBool::new(false), AtomicBool::new(false));
    let hits: Mutex<Vec<Hit>> = Mutex::new(Vec::new());
    let ar = Arith::new(ev);
    // what to do with a candidate that computed to a fresh vector
    let accept = |f: Found, local_hits: &mut Hits| {
        if arena.seen.contains_key(&f.key) {
            return;
        }
        if !stored {
            counts.new.fetch_add(1, AtOrd::Relaxed);
            index.matches(f.vals, index.match_key(f.vals, f.key), |t, category| {
                local_hits.push(Hit {
                    target: t,
                    category,
                    size,
                    order: f.order,
                    key: f.key,
                    expr: Expr::Node(f.node),
                })
            });
            return;
        }
        let mut sh = shards[(f.key >> 64) as usize % SHARDS]
            .lock()
            .expect("a shard lock");
        let sh = &mut *sh;
        if let Some(&i) = sh.map.get(&f.key) {
            let slot = sh.entries[i as usize].slot;
            let same = match f.vals {
                Vals::Small(v) if slot & BIG == 0 => {
                    let k = slot as usize * len;
                    sh.small[k..k + len] == *v
                }
                Vals::Big(v) if slot & BIG != 0 => sh.big[(slot & !BIG) as usize] == v,
                _ => false,
            };
            if !same {
                // a 128-bit collision: the second vector is dropped, never mislabelled
                return;
            }
            let e = &mut sh.entries[i as usize];
            if f.order < e.order {
                (e.order, e.node, e.steps, e.folded) = (f.order, f.node, f.steps, f.folded);
            }
            return;
        }
        let slot = match f.vals {
            Vals::Small(v) => {
                sh.small.extend_from_slice(v);
                (sh.small.len() / len - 1) as u32
            }
            Vals::Big(v) => {
                sh.big.push(v.to_vec());
                (sh.big.len() - 1) as u32 | BIG
            }
        };
        sh.map.insert(f.key, sh.entries.len() as u32);
        sh.entries.push(Pending {
            key: f.key,
            order: f.order,
            node: f.node,
            steps: f.steps,
            folded: f.folded,
            slot,
        });
        let vector = match f.vals {
            Vals::Small(_) => len as u64 * 8,
            Vals::Big(v) => 24 + v.iter().map(num_bytes).sum::<u64>(),
        };
        let b = pending_bytes.fetch_add(vector + PER_PENDING + 20, AtOrd::Relaxed);
        if 2 * b > budget {
            out_of_memory.store(true, AtOrd::Relaxed);
        }
    };
    // one candidate: checks, computes, accepts
    let run_one = |node: Node,
                   order: u128,
                   steps: u64,
                   folded: bool,
                   buf: &mut [i64],
                   local: &mut Hits,
                   compute: &dyn Fn(&mut [i64]) -> Computed| {
        if 1 + len as u64 + steps > max_steps {
            counts.errors.fetch_add(1, AtOrd::Relaxed);
            return;
        }
        let big;
        let vals = match compute(buf) {
            Computed::Small => Vals::Small(buf),
            Computed::Big(v) => {
                big = v;
                Vals::Big(&big)
            }
            Computed::Error => {
                counts.errors.fetch_add(1, AtOrd::Relaxed);
                return;
            }
        };
        let key = key(vals, index.split());
        accept(
            Found {
                node,
                order,
                steps,
                folded,
                key,
                vals,
            },
            local,
        );
    };
    let l = len as u64;
    let task = |job: &Job| {
        if time_up.load(AtOrd::Relaxed) || out_of_memory.load(AtOrd::Relaxed) {
            return;
        }
        // the leaves are always computed: a level of 11 cannot pass any limit
        if !matches!(job, Job::Leaves) && deadline.is_some_and(|d| Instant::now() > d) {
            time_up.store(true, AtOrd::Relaxed);
            return;
        }
        let mut buf = vec![0i64; len];
        let mut local = Hits::new(full, s.per_target);
        let work = job.work();
        match job {
            Job::Leaves => {
                for (i, node) in std::iter::once(Node::Var)
                    .chain((0..10).map(Node::Const))
                    .enumerate()
                {
                    run_one(
                        node,
                        i as u128,
                        0,
                        false,
                        &mut buf,
                        &mut local,
                        &|out: &mut [i64]| {
                            for (n, o) in out.iter_mut().enumerate() {
                                *o = match node {
                                    Node::Var => n as i64 + 1,
                                    Node::Const(c) => c as i64,
                                    _ => unreachable!("a leaf"),
                                };
                            }
                            Computed::Small
                        },
                    );
                }
            }
            Job::Unary(p, ids) => {
                for a in ids.clone() {
                    let va = arena.vals(a);
                    run_one(
                        Node::Unary(*p, a),
                        order(kind(*p), a, 0),
                        arena.steps[a as usize] + l,
                        arena.folded[a as usize],
                        &mut buf,
                        &mut local,
                        &|out| ar.binary(*p, va, va, out),
                    );
                }
            }
            Job::Binary {
                prim,
                left,
                right,
                half,
            } => {
                let p = *prim;
                for a in left.clone() {
                    let va = arena.vals(a);
                    let from = if *half {
                        a.max(right.start)
                    } else {
                        right.start
                    };
                    for b in from..right.end {
                        // a - a, a / a, a % a, min and max of a with itself: never new
                        if a == b
                            && matches!(
                                p,
                                Prim::Sub | Prim::Div | Prim::Mod | Prim::Min | Prim::Max
                            )
                        {
                            continue;
                        }
                        let vb = arena.vals(b);
                        run_one(
                            Node::Binary(p, a, b),
                            order(kind(p), a, b),
                            arena.steps[a as usize] + arena.steps[b as usize] + l,
                            arena.folded[a as usize] || arena.folded[b as usize],
                            &mut buf,
                            &mut local,
                            &|out| ar.binary(p, va, vb, out),
                        );
                    }
                }
            }
            Job::Fold(set, op, ids) => {
                let members = &sets.iter().find(|(s, _)| s == set).expect("a set").1;
                for a in ids.clone() {
                    if arena.folded[a as usize] {
                        continue;
                    }
                    let body_steps = arena.steps[a as usize] / l;
                    let steps: u64 = members
                        .iter()
                        .map(|m| fold_steps(*set, l, m.len() as u64, body_steps))
                        .sum();
                    let va = arena.vals(a);
                    run_one(
                        Node::Fold(*set, *op, a),
                        order(fold_kind(*set, *op), a, 0),
                        steps,
                        true,
                        &mut buf,
                        &mut local,
                        &|out| ar.fold(op.prim(), op.init(), members, va, out),
                    );
                }
            }
        }
        counts.evaluated.fetch_add(work, AtOrd::Relaxed);
        progress(Progress::Advance(work));
        if !local.hits.is_empty() {
            hits.lock().expect("hits lock").append(&mut local.hits);
        }
    };
    jobs.par_iter().for_each(task);
    if time_up.load(AtOrd::Relaxed) {
        return LevelResult::TimeUp;
    }
    if out_of_memory.load(AtOrd::Relaxed) {
        return LevelResult::OutOfMemory;
    }
    let evaluated = counts.evaluated.load(AtOrd::Relaxed);
    let errors = counts.errors.load(AtOrd::Relaxed);
    let hits = hits.into_inner().expect("hits lock");
    if stored {
        let shards = shards
            .into_iter()
            .map(|m| m.into_inner().expect("a shard lock"))
            .collect();
        LevelResult::Done(hits, LevelCounts::Stored(shards, evaluated, errors))
    } else {
        let new = counts.new.load(AtOrd::Relaxed);
        LevelResult::Done(hits, LevelCounts::Matched(evaluated, errors, new))
    }
}

/// The program of a node whose children are in the arena.
pub(super) fn spell_new(arena: &Arena, node: Node) -> String {
    let mut nodes = Vec::new();
    let id = copy_tree(arena, node, &mut nodes, &mut HashMap::new());
    expr::program(&nodes, id)
}

pub(super) fn copy_tree(
    arena: &Arena,
    node: Node,
    out: &mut Vec<Node>,
    memo: &mut HashMap<u32, u32>,
) -> u32 {
    let mut child = |id: u32, out: &mut Vec<Node>| -> u32 {
        if let Some(&c) = memo.get(&id) {
            return c;
        }
        let c = copy_tree(arena, arena.nodes[id as usize], out, memo);
        memo.insert(id, c);
        c
    };
    let n = match node {
        Node::Const(_) | Node::Var => node,
        Node::Unary(p, a) => Node::Unary(p, child(a, out)),
        Node::Binary(p, a, b) => {
            let a = child(a, out);
            Node::Binary(p, a, child(b, out))
        }
        Node::Fold(s, o, a) => Node::Fold(s, o, child(a, out)),
    };
    out.push(n);
    out.len() as u32 - 1
}

/// Numbers a stored level's expressions in order-key order and moves them into the arena.
pub(super) fn commit(arena: &mut Arena, shards: Vec<Shard>, size: u32) -> u64 {
    let mut all: Vec<(u128, u32, u32)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, sh)| {
            sh.entries
                .iter()
                .enumerate()
                .map(move |(i, e)| (e.order, s as u32, i as u32))
        })
        .collect();
    all.par_sort_unstable();
    let start = arena.nodes.len() as u32;
    let len = arena.len;
    arena.small.reserve_exact(all.len() * len);
    arena.seen.reserve(all.len());
    arena.by_window.reserve(all.len());
    for &(_, s, i) in &all {
        let sh = &shards[s as usize];
        let e = &sh.entries[i as usize];
        arena.nodes.push(e.node);
        arena.steps.push(e.steps);
        arena.folded.push(e.folded);
        let id = arena.nodes.len() as u32 - 1;
        arena.seen.insert(e.key, id);
        if e.slot & BIG != 0 {
            arena.big.push(sh.big[(e.slot & !BIG) as usize].clone());
            arena.slot.push((arena.big.len() - 1) as u32 | BIG);
        } else {
            let from = e.slot as usize * len;
            arena.slot.push((arena.small.len() / len) as u32);
            arena.small.extend_from_slice(&sh.small[from..from + len]);
        }
        let window = if arena.match_len == len {
            e.key as u64
        } else {
            targets::part(
                arena.vals(id),
                arena.split..arena.match_len,
                targets::WINDOW_SEED,
            )
        };
        arena.by_window.entry(window).or_insert(id);
    }
    arena.levels.push((start, arena.nodes.len() as u32));
    debug_assert_eq!(arena.levels.len() as u32, size + 1);
    all.len() as u64
}
