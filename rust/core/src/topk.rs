//! Top-k accumulators: keep the best candidates under a global `k` and/or per-class quotas.

use crate::radix::sort_candidates;
use crate::ranking::Candidate;

/// Keeps the best candidates pushed so far under a global `k` and/or per-class quotas.
/// Memory stays O(k + sum(quotas)); rows that cannot make the cut are rejected in O(1).
#[derive(Debug, Clone)]
pub struct Accumulator {
    k: Option<usize>,
    per_class_k: Option<Vec<usize>>,
    all: Vec<Candidate>,
    per_class: Vec<Vec<Candidate>>,
    cut: Option<(u64, u64)>,
    class_cut: Vec<Option<(u64, u64)>>,
}

/// Keep the `m` best of `v`; return the worst kept rank (the new cutoff).
fn reduce_to(v: &mut Vec<Candidate>, m: usize) -> Option<(u64, u64)> {
    if m == 0 {
        v.clear();
        return None;
    }
    if v.len() > m {
        v.select_nth_unstable_by_key(m - 1, Candidate::rank);
        v.truncate(m);
        Some(v[m - 1].rank())
    } else {
        None
    }
}

impl Accumulator {
    pub fn new(k: Option<usize>, per_class_k: Option<Vec<usize>>) -> Self {
        let nc = per_class_k.as_ref().map_or(0, |q| q.len());
        Accumulator {
            k,
            per_class_k,
            all: Vec::new(),
            per_class: vec![Vec::new(); nc],
            cut: None,
            class_cut: vec![None; nc],
        }
    }

    #[inline(always)]
    pub fn push(&mut self, c: Candidate) {
        if let Some(q) = &self.per_class_k {
            let lab = c.label() as usize;
            let quota = q[lab];
            if quota == 0 {
                return;
            }
            if let Some(cut) = self.class_cut[lab] {
                if c.rank() >= cut {
                    return;
                }
            }
            let v = &mut self.per_class[lab];
            v.push(c);
            if v.len() >= 2 * quota + 64 {
                self.class_cut[lab] = reduce_to(v, quota);
            }
        } else if let Some(k) = self.k {
            if k == 0 {
                return;
            }
            if let Some(cut) = self.cut {
                if c.rank() >= cut {
                    return;
                }
            }
            self.all.push(c);
            if self.all.len() >= 2 * k + 64 {
                self.cut = reduce_to(&mut self.all, k);
            }
        } else {
            self.all.push(c);
        }
    }

    /// The worst score a new candidate of class `label` may have and still be kept
    /// (rows with an equal score may still lose on the row index). `None`: no bound yet.
    #[inline(always)]
    pub fn bound(&self, label: u32) -> Option<u64> {
        if self.per_class_k.is_some() {
            self.class_cut[label as usize].map(|c| c.0)
        } else {
            self.cut.map(|c| c.0)
        }
    }

    /// An accumulator that keeps every candidate, with room reserved for `rows` of them
    /// (only the pages written become resident).
    pub fn keep_all(rows: usize) -> Self {
        let mut acc = Accumulator::new(None, None);
        acc.all = crate::alloc::with_capacity(rows);
        acc
    }

    /// The candidates of a keep-all accumulator, in the order they were pushed.
    pub fn into_pushed(self) -> Vec<Candidate> {
        self.all
    }

    /// Whether this accumulator keeps everything it is given (no k, no quotas).
    pub fn keeps_all(&self) -> bool {
        self.k.is_none() && self.per_class_k.is_none()
    }

    pub fn merge(&mut self, other: Accumulator) {
        if self.per_class_k.is_none() && self.k.is_none() {
            let mut all = other.all;
            if all.len() > self.all.len() {
                std::mem::swap(&mut all, &mut self.all);
            }
            self.all.extend(all);
            return;
        }
        for c in other.all.into_iter().chain(other.per_class.into_iter().flatten()) {
            self.push(c);
        }
    }

    /// The kept candidates, reduced to the quotas and sorted best first.
    pub fn finish(self) -> Vec<Candidate> {
        let mut out = match self.per_class_k {
            Some(q) => {
                let mut out = Vec::new();
                for (mut v, quota) in self.per_class.into_iter().zip(q) {
                    reduce_to(&mut v, quota);
                    out.extend(v);
                }
                out
            }
            None => self.all,
        };
        if let Some(k) = self.k {
            reduce_to(&mut out, k);
        }
        sort_candidates(&mut out);
        out
    }
}
