//! Row selection: thresholds, global and per-class top-k, and the candidate accumulator
//! that the streaming `TopK` merges with.
//!
//! Order: "better" means a larger score when `largest`, a smaller one otherwise; ties go to
//! the lower row index. Candidates are ranked by an integer key built from the score's
//! bits, so ranking is exact and independent of how rows were split across threads.

use rayon::prelude::*;

use crate::alloc::zeroed;
use crate::error::{param, Result};
use crate::float::Prob;
use crate::scan::{Matrix, Score, LANES};
use crate::threads::with_pool;

/// Most rows and classes a selection can address (row and class share one 64-bit tag).
pub const MAX_ROWS: u64 = 1 << 40;
pub const MAX_CLASSES: usize = 1 << 24;

/// A selected row, packed in 16 bytes: its ranking key (smaller is better) and a tag
/// holding the row index (high 40 bits) and the predicted class (low 24 bits). Ordering by
/// `(key, tag)` ranks by score, then by the lower row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cand {
    pub key: u64,
    pub tag: u64,
}

impl Cand {
    #[inline(always)]
    pub fn new(key: u64, row: u64, label: u32) -> Self {
        Cand { key, tag: (row << 24) | label as u64 }
    }
    #[inline(always)]
    pub fn row(&self) -> u64 {
        self.tag >> 24
    }
    #[inline(always)]
    pub fn label(&self) -> u32 {
        (self.tag & 0xFF_FFFF) as u32
    }
    #[inline(always)]
    fn rank(&self) -> (u64, u64) {
        (self.key, self.tag)
    }
}

/// Order-preserving map from a score to a key where a smaller key is a better row.
#[inline(always)]
pub fn score_key(score: f64, largest: bool) -> u64 {
    let b = (score + 0.0).to_bits(); // + 0.0 folds -0.0 into +0.0
    let asc = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    if largest {
        !asc
    } else {
        asc
    }
}

#[inline(always)]
pub fn key_score(key: u64, largest: bool) -> f64 {
    let asc = if largest { !key } else { key };
    let b = if asc >> 63 == 1 { asc & !(1 << 63) } else { !asc };
    f64::from_bits(b)
}

/// Keeps the best candidates pushed so far under a global `k` and/or per-class quotas.
/// Memory stays O(k + sum(quotas)); rows that cannot make the cut are rejected in O(1).
#[derive(Debug, Clone)]
pub struct Acc {
    k: Option<usize>,
    per_class_k: Option<Vec<usize>>,
    all: Vec<Cand>,
    per_class: Vec<Vec<Cand>>,
    cut: Option<(u64, u64)>,
    class_cut: Vec<Option<(u64, u64)>>,
}

/// Keep the `m` best of `v`; return the worst kept rank (the new cutoff).
fn reduce_to(v: &mut Vec<Cand>, m: usize) -> Option<(u64, u64)> {
    if m == 0 {
        v.clear();
        return None;
    }
    if v.len() > m {
        v.select_nth_unstable_by_key(m - 1, Cand::rank);
        v.truncate(m);
        Some(v[m - 1].rank())
    } else {
        None
    }
}

impl Acc {
    pub fn new(k: Option<usize>, per_class_k: Option<Vec<usize>>) -> Self {
        let nc = per_class_k.as_ref().map_or(0, |q| q.len());
        Acc {
            k,
            per_class_k,
            all: Vec::new(),
            per_class: vec![Vec::new(); nc],
            cut: None,
            class_cut: vec![None; nc],
        }
    }

    #[inline(always)]
    pub fn push(&mut self, c: Cand) {
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

    /// Whether this accumulator keeps everything it is given (no k, no quotas).
    pub fn keeps_all(&self) -> bool {
        self.k.is_none() && self.per_class_k.is_none()
    }

    pub fn merge(&mut self, other: Acc) {
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
    pub fn finish(self) -> Vec<Cand> {
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
        sort_cands(&mut out);
        out
    }
}

/// Concatenate per-chunk candidate lists, which hold rows in increasing order chunk after
/// chunk, and sort them best first, freeing each chunk's buffer once it has been moved.
fn sort_chunks(chunks: Vec<Vec<Cand>>) -> Vec<Cand> {
    let total: usize = chunks.iter().map(Vec::len).sum();
    if total <= 1 << 16 {
        let mut all: Vec<Cand> = chunks.into_iter().flatten().collect();
        all.sort_unstable_by_key(Cand::rank);
        return all;
    }
    radix_sort(chunks, total)
}

/// Sort candidates (in any order) best first.
pub fn sort_cands(v: &mut [Cand]) {
    if v.len() > 1 << 16 {
        v.par_sort_unstable_by_key(Cand::rank);
    } else {
        v.sort_unstable_by_key(Cand::rank);
    }
}

/// Stable LSD radix sort of candidates by key, 11 bits a pass, over only the key bits that
/// vary. The input arrives in row order, so stability breaks ties by the lower row. Each
/// pass streams into 2048 sequential outputs (friendly to caches and TLBs), and the first
/// pass reads straight from the chunk buffers, freeing each once it is scattered.
fn radix_sort(chunks: Vec<Vec<Cand>>, total: usize) -> Vec<Cand> {
    const BITS: u32 = 11;
    const RADIX: usize = 1 << BITS;
    let first = match chunks.iter().flatten().next() {
        Some(c) => c.key,
        None => return Vec::new(),
    };
    let varying = chunks.iter().flatten().fold(0u64, |acc, c| acc | (c.key ^ first));
    if varying == 0 {
        // every key is equal: row order is already the answer
        let mut out = crate::alloc::with_capacity(total);
        for chunk in chunks {
            out.extend_from_slice(&chunk);
        }
        return out;
    }
    let lo = varying.trailing_zeros();
    let hi = 64 - varying.leading_zeros();
    let shifts: Vec<u32> = (lo..hi).step_by(BITS as usize).collect();

    let mut src: Vec<Cand> = Vec::new();
    let mut dst: Vec<Cand> = crate::alloc::with_capacity(total);
    let mut chunks = Some(chunks);
    for &shift in &shifts {
        let digit = |c: &Cand| ((c.key >> shift) as usize) & (RADIX - 1);
        let mut offsets = vec![0usize; RADIX];
        match &chunks {
            Some(ch) => ch.iter().flatten().for_each(|c| offsets[digit(c)] += 1),
            None => src.iter().for_each(|c| offsets[digit(c)] += 1),
        }
        let mut sum = 0;
        for o in offsets.iter_mut() {
            let n = *o;
            *o = sum;
            sum += n;
        }
        let out = dst.as_mut_ptr();
        let mut scatter = |c: &Cand| {
            let d = digit(c);
            // SAFETY: offsets partition 0..total and each slot is written exactly once;
            // `dst` has capacity `total`.
            unsafe { out.add(offsets[d]).write(*c) };
            offsets[d] += 1;
        };
        match chunks.take() {
            Some(ch) => {
                for chunk in ch {
                    chunk.iter().for_each(&mut scatter);
                    // `chunk` is freed here
                }
            }
            None => src.iter().for_each(&mut scatter),
        }
        // SAFETY: all `total` slots were written above.
        unsafe { dst.set_len(total) };
        std::mem::swap(&mut src, &mut dst);
        if dst.capacity() < total {
            dst = crate::alloc::with_capacity(total);
        }
        // SAFETY: Cand is plain data; the old contents are overwritten by the next pass.
        unsafe { dst.set_len(0) };
    }
    src
}

/// A threshold: one value for every row, or one per predicted class.
#[derive(Debug, Clone)]
pub enum Threshold {
    Global(f64),
    PerClass(Vec<f64>),
}

/// Everything `select` needs besides the matrix.
#[derive(Debug, Clone)]
pub struct SelectParams<'a> {
    pub score: Score,
    pub threshold: Option<Threshold>,
    pub inclusive: bool,
    pub k: Option<usize>,
    pub per_class_k: Option<Vec<usize>>,
    pub largest: bool,
    pub exclude: Option<&'a [bool]>,
}

impl<'a> SelectParams<'a> {
    pub fn new(score: Score) -> Self {
        SelectParams {
            score,
            threshold: None,
            inclusive: false,
            k: None,
            per_class_k: None,
            largest: true,
            exclude: None,
        }
    }
}

/// The selected rows, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    pub indices: Vec<i64>,
    pub labels: Vec<i64>,
    pub scores: Vec<f64>,
}

impl Selection {
    pub fn from_cands(cands: &[Cand], largest: bool) -> Self {
        let n = cands.len();
        let mut s = Selection {
            indices: zeroed(n, 0i64),
            labels: zeroed(n, 0i64),
            scores: zeroed(n, 0.0f64),
        };
        for (((c, i), l), v) in cands.iter().zip(&mut s.indices).zip(&mut s.labels).zip(&mut s.scores) {
            *i = c.row() as i64;
            *l = c.label() as i64;
            *v = key_score(c.key, largest);
        }
        s
    }
}

fn check_params(p: &SelectParams, n: usize, c: usize) -> Result<()> {
    match &p.threshold {
        Some(Threshold::Global(t)) if t.is_nan() => {
            return Err(param("threshold", "must not be NaN"));
        }
        Some(Threshold::PerClass(ts)) => {
            if ts.len() != c {
                return Err(param(
                    "threshold",
                    format!("has {} per-class values but the probabilities have {c} columns", ts.len()),
                ));
            }
            if let Some(i) = ts.iter().position(|t| t.is_nan()) {
                return Err(param("threshold", format!("value for class {i} is NaN")));
            }
        }
        _ => {}
    }
    if let Some(q) = &p.per_class_k {
        if q.len() != c {
            return Err(param(
                "per_class_k",
                format!("has {} per-class values but the probabilities have {c} columns", q.len()),
            ));
        }
    }
    if let Some(ex) = p.exclude {
        if ex.len() != n {
            return Err(param(
                "exclude",
                format!("has length {} but the probabilities have {n} rows", ex.len()),
            ));
        }
    }
    Ok(())
}

/// Thresholds rounded to the matrix's element type, as numpy compares a Python float
/// against a float32 array.
fn thresholds_in<T: Prob>(t: &Option<Threshold>, c: usize) -> Option<Vec<T>> {
    match t {
        None => None,
        Some(Threshold::Global(v)) => Some(vec![T::from_f64(*v); c]),
        Some(Threshold::PerClass(vs)) => Some(vs.iter().map(|&v| T::from_f64(v)).collect()),
    }
}

/// Select rows of `m`: see the Python docstring of `pseudolabel.kernels.select`.
pub fn select<T: Prob>(m: &Matrix<T>, p: &SelectParams) -> Result<Selection> {
    let cands = select_cands(m, p, 0)?;
    Ok(Selection::from_cands(&cands, p.largest))
}

/// Like `select`, but returns the raw sorted candidates with `offset` added to every row.
pub fn select_cands<T: Prob>(m: &Matrix<T>, p: &SelectParams, offset: u64) -> Result<Vec<Cand>> {
    check_params(p, m.n, m.c)?;
    if m.c > MAX_CLASSES {
        return Err(param("P", format!("select supports at most 2^24 classes, got {}", m.c)));
    }
    if offset + m.n as u64 > MAX_ROWS {
        return Err(param("P", "select supports row indices below 2^40"));
    }
    if m.n == 0 {
        return Ok(Vec::new());
    }
    let thr = thresholds_in::<T>(&p.threshold, m.c);
    let cr = m.chunk_rows();
    let nchunks = m.n.div_ceil(cr);
    let entropy = p.score == Score::Entropy;
    let scan = |ci: usize, acc: &mut Acc| {
        let start = ci * cr;
        let end = (start + cr).min(m.n);
        if entropy {
            scan_select::<T, true>(m, p, thr.as_deref(), start, end, offset, acc)
        } else {
            scan_select::<T, false>(m, p, thr.as_deref(), start, end, offset, acc)
        }
    };
    let threads = crate::threads::get_num_threads()?;
    let nparts = nchunks.min(threads.max(1) * 2);
    let per_part = nchunks.div_ceil(nparts);
    if p.k.is_none() && p.per_class_k.is_none() {
        // keep everything that passes: each part appends, in row order, to one buffer
        // reserved for its worst case (only the written prefix becomes resident)
        let parts: Vec<(Acc, Option<usize>)> = with_pool(|| {
            (0..nparts)
                .into_par_iter()
                .map(|pi| {
                    let chunks = pi * per_part..((pi + 1) * per_part).min(nchunks);
                    let rows = (chunks.end * cr).min(m.n).saturating_sub(chunks.start * cr);
                    let mut acc = Acc::new(None, None);
                    acc.all = crate::alloc::with_capacity(rows);
                    let mut bad = None;
                    for ci in chunks {
                        bad = min_opt(bad, scan(ci, &mut acc));
                        if bad.is_some() {
                            break;
                        }
                    }
                    (acc, bad)
                })
                .collect()
        })?;
        if let Some(r) = parts.iter().filter_map(|x| x.1).min() {
            return Err(m.describe_bad_row(r));
        }
        return Ok(sort_chunks(parts.into_iter().map(|x| x.0.all).collect()));
    }
    // one accumulator per part: memory O(parts * (k + quotas)), not per rayon split
    let parts: Vec<(Acc, Option<usize>)> = with_pool(|| {
        (0..nparts)
            .into_par_iter()
            .map(|pi| {
                let mut acc = Acc::new(p.k, p.per_class_k.clone());
                let mut bad = None;
                for ci in pi * per_part..((pi + 1) * per_part).min(nchunks) {
                    bad = min_opt(bad, scan(ci, &mut acc));
                    if bad.is_some() {
                        break;
                    }
                }
                (acc, bad)
            })
            .collect()
    })?;
    let mut iter = parts.into_iter();
    let (mut acc, mut bad) = iter.next().unwrap_or((Acc::new(p.k, p.per_class_k.clone()), None));
    for (a, b) in iter {
        acc.merge(a);
        bad = min_opt(bad, b);
    }
    if let Some(r) = bad {
        return Err(m.describe_bad_row(r));
    }
    Ok(acc.finish())
}

#[inline(always)]
fn min_opt(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[inline(always)]
fn scan_select<T: Prob, const ENTROPY: bool>(
    m: &Matrix<T>,
    p: &SelectParams,
    thr: Option<&[T]>,
    start: usize,
    end: usize,
    offset: u64,
    acc: &mut Acc,
) -> Option<usize> {
    let mut first_bad = None;
    m.scan_rows::<ENTROPY, _>(start, end, None, |r0, len, out| {
        if first_bad.is_some() {
            return; // the error is reported; nothing more to select
        }
        if out.bad != 0 {
            first_bad = Some(r0 + out.bad.trailing_zeros() as usize);
            return;
        }
        // branch-free mask of the lanes that pass exclude and threshold
        let mut keep: u32 = (1u32 << len) - 1;
        if let Some(ex) = p.exclude {
            for (l, &x) in ex[r0..r0 + len].iter().enumerate() {
                keep &= !((x as u32) << l);
            }
        }
        let mut scores = [T::ZERO; LANES];
        for (l, s) in scores.iter_mut().enumerate() {
            *s = p.score.of(out, l);
        }
        if let Some(t) = thr {
            let mut pass = 0u32;
            for l in 0..LANES {
                let t = t[out.label[l] as usize];
                let s = scores[l];
                let ok = match (p.largest, p.inclusive) {
                    (true, false) => s > t,
                    (true, true) => s >= t,
                    (false, false) => s < t,
                    (false, true) => s <= t,
                };
                pass |= (ok as u32) << l;
            }
            keep &= pass;
        }
        if !acc.keeps_all() {
            // rows strictly worse than what the accumulator already holds cannot enter
            let mut pass = 0u32;
            for l in 0..LANES {
                let ok = match acc.bound(out.label[l]) {
                    Some(b) => score_key(scores[l].to_f64(), p.largest) <= b,
                    None => true,
                };
                pass |= (ok as u32) << l;
            }
            keep &= pass;
        }
        while keep != 0 {
            let l = keep.trailing_zeros() as usize;
            keep &= keep - 1;
            let row = r0 + l;
            acc.push(Cand::new(score_key(scores[l].to_f64(), p.largest), offset + row as u64, out.label[l]));
        }
    });
    first_bad
}

/// Reduce candidates that came from several chunks (the merge step of streaming top-k).
/// `labels` must lie in `0 .. per_class_k.len()` when per-class quotas are given.
pub fn reduce_candidates(
    indices: &[i64],
    labels: &[i64],
    scores: &[f64],
    k: Option<usize>,
    per_class_k: Option<Vec<usize>>,
    largest: bool,
) -> Result<Selection> {
    let n = indices.len();
    if labels.len() != n || scores.len() != n {
        return Err(param(
            "candidates",
            format!(
                "indices, labels and scores differ in length ({n}, {}, {})",
                labels.len(),
                scores.len()
            ),
        ));
    }
    let nc = per_class_k.as_ref().map(|q| q.len());
    let mut acc = Acc::new(k, per_class_k);
    for i in 0..n {
        if scores[i].is_nan() {
            return Err(param("scores", format!("candidate {i} has a NaN score")));
        }
        if indices[i] < 0 {
            return Err(param("indices", format!("candidate {i} has a negative row index")));
        }
        if indices[i] as u64 >= MAX_ROWS {
            return Err(param("indices", format!("candidate {i} has row index {} >= 2^40", indices[i])));
        }
        if labels[i] < 0 || labels[i] as usize >= MAX_CLASSES || nc.is_some_and(|c| labels[i] as usize >= c) {
            return Err(param("labels", format!("candidate {i} has label {} out of range", labels[i])));
        }
        acc.push(Cand::new(score_key(scores[i], largest), indices[i] as u64, labels[i] as u32));
    }
    Ok(Selection::from_cands(&acc.finish(), largest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn sel(p: &Array2<f64>, params: &SelectParams) -> Selection {
        let m = Matrix::new(p.view()).unwrap();
        select(&m, params).unwrap()
    }

    fn random_cands(n: usize, distinct: u64, seed: u64, row_order: bool) -> Vec<Cand> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let score = ((x >> 33) % distinct) as f64 / distinct as f64;
                let row = if row_order { i } else { n - i } as u64;
                Cand::new(score_key(score, i % 3 == 0), row, (x % 7) as u32)
            })
            .collect()
    }

    #[test]
    fn radix_sort_of_row_ordered_chunks_equals_a_plain_sort() {
        for (n, distinct) in [(70_000usize, 50u64), (300_000, 1 << 20), (200_000, 1), (5, 3)] {
            let all = random_cands(n, distinct, n as u64, true);
            let mut want = all.clone();
            want.sort_unstable_by_key(Cand::rank);
            let chunks: Vec<Vec<Cand>> = all.chunks(7_777).map(|c| c.to_vec()).collect();
            let got = radix_sort(chunks, n);
            assert!(got == want, "radix sort differs: n={n} distinct={distinct}");
            let chunks: Vec<Vec<Cand>> = all.chunks(1_000).map(|c| c.to_vec()).collect();
            assert!(sort_chunks(chunks) == want, "sort_chunks differs: n={n}");
        }
    }

    #[test]
    fn sort_cands_handles_any_order() {
        for n in [10usize, 100_000] {
            let mut v = random_cands(n, 20, 5, false);
            let mut want = v.clone();
            want.sort_by_key(|c| (c.key, c.tag));
            sort_cands(&mut v);
            assert!(v == want, "n={n}");
        }
    }

    #[test]
    fn key_round_trip_and_order() {
        let vals = [0.0, 1e-300, 0.25, 0.5, 0.5000001, 1.0, 3.5];
        for largest in [true, false] {
            for &v in &vals {
                assert_eq!(key_score(score_key(v, largest), largest), v);
            }
            for w in vals.windows(2) {
                let (a, b) = (score_key(w[0], largest), score_key(w[1], largest));
                assert_eq!(a > b, largest, "{w:?}");
            }
        }
        assert_eq!(score_key(-0.0, true), score_key(0.0, true));
    }

    #[test]
    fn threshold_is_strict_by_default_and_best_first() {
        let p = array![[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.05, 0.95], [0.8, 0.2]];
        let mut params = SelectParams::new(Score::Confidence);
        params.threshold = Some(Threshold::Global(0.8));
        let s = sel(&p, &params);
        assert_eq!(s.indices, vec![3, 0]);
        assert_eq!(s.labels, vec![1, 0]);
        params.inclusive = true;
        let s = sel(&p, &params);
        assert_eq!(s.indices, vec![3, 0, 1, 4]);
    }

    #[test]
    fn ties_go_to_the_lower_row() {
        let p = Array2::from_elem((100, 4), 0.25);
        let mut params = SelectParams::new(Score::Margin);
        params.k = Some(5);
        assert_eq!(sel(&p, &params).indices, vec![0, 1, 2, 3, 4]);
        params.largest = false;
        assert_eq!(sel(&p, &params).indices, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn per_class_k_then_k() {
        // class 0 rows have higher confidence than class 1 rows
        let mut p = Array2::<f64>::zeros((1000, 2));
        for i in 0..1000 {
            if i < 500 {
                p[[i, 0]] = 0.8 + (i % 500) as f64 / 5000.0;
                p[[i, 1]] = 1.0 - p[[i, 0]];
            } else {
                p[[i, 1]] = 0.5001 + (i % 500) as f64 / 2000.0;
                p[[i, 0]] = 1.0 - p[[i, 1]];
            }
        }
        let mut params = SelectParams::new(Score::Confidence);
        params.per_class_k = Some(vec![3, 2]);
        let s = sel(&p, &params);
        assert_eq!(s.labels.iter().filter(|&&l| l == 0).count(), 3);
        assert_eq!(s.labels.iter().filter(|&&l| l == 1).count(), 2);
        assert_eq!(s.indices, vec![499, 498, 497, 999, 998]);
        params.k = Some(4);
        assert_eq!(sel(&p, &params).indices, vec![499, 498, 497, 999]);
    }

    #[test]
    fn exclude_and_k_zero() {
        let p = array![[0.9, 0.1], [0.99, 0.01]];
        let mut params = SelectParams::new(Score::Confidence);
        let ex = [false, true];
        params.exclude = Some(&ex);
        assert_eq!(sel(&p, &params).indices, vec![0]);
        params.k = Some(0);
        assert!(sel(&p, &params).indices.is_empty());
    }

    #[test]
    fn bad_lengths_are_parameter_errors() {
        let p = array![[0.9, 0.1]];
        let m = Matrix::new(p.view()).unwrap();
        let mut params = SelectParams::new(Score::Confidence);
        params.per_class_k = Some(vec![1, 2, 3]);
        assert!(matches!(select(&m, &params), Err(crate::KernelError::Parameter { name: "per_class_k", .. })));
        let mut params = SelectParams::new(Score::Confidence);
        params.threshold = Some(Threshold::PerClass(vec![0.5]));
        assert!(matches!(select(&m, &params), Err(crate::KernelError::Parameter { name: "threshold", .. })));
    }

    #[test]
    fn chunked_reduce_equals_one_shot() {
        let n = 5000;
        let mut p = Array2::<f64>::zeros((n, 3));
        let mut x: u64 = 12345;
        for i in 0..n {
            let mut row = [0.0; 3];
            for v in row.iter_mut() {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *v = ((x >> 33) % 7) as f64 + 1.0; // many ties
            }
            let s: f64 = row.iter().sum();
            for j in 0..3 {
                p[[i, j]] = row[j] / s;
            }
        }
        let mut params = SelectParams::new(Score::Margin);
        params.k = Some(37);
        params.per_class_k = Some(vec![20, 5, 30]);
        let m = Matrix::new(p.view()).unwrap();
        let want = select(&m, &params).unwrap();
        let mut all = Selection::default();
        for start in (0..n).step_by(700) {
            let end = (start + 700).min(n);
            let sub = p.slice(ndarray::s![start..end, ..]);
            let mc = Matrix::new(sub).unwrap();
            let part = select_cands(&mc, &params, start as u64).unwrap();
            let part = Selection::from_cands(&part, true);
            all.indices.extend(part.indices);
            all.labels.extend(part.labels);
            all.scores.extend(part.scores);
        }
        let got = reduce_candidates(&all.indices, &all.labels, &all.scores, params.k, params.per_class_k.clone(), true).unwrap();
        assert_eq!(got, want);
    }
}
