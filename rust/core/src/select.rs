//! Row selection: thresholds, global and per-class top-k over a probability matrix, and the
//! merge step of the streaming `TopK`.

use crate::alloc::zeroed;
use crate::error::{param, Result};
use crate::float::Prob;
use crate::radix::sort_chunks;
use crate::ranking::{key_score, score_key, Candidate, MAX_CLASSES, MAX_ROWS};
use crate::scan::{kept_lanes, Matrix, Score, LANES};
use crate::threads::{parallel_map, parts_for, with_pool};
use crate::topk::Accumulator;

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
    pub fn from_candidates(candidates: &[Candidate], largest: bool) -> Self {
        let n = candidates.len();
        let mut s = Selection {
            indices: zeroed(n, 0i64),
            labels: zeroed(n, 0i64),
            scores: zeroed(n, 0.0f64),
        };
        for (((c, i), l), v) in candidates.iter().zip(&mut s.indices).zip(&mut s.labels).zip(&mut s.scores) {
            *i = c.row() as i64;
            *l = c.label() as i64;
            *v = key_score(c.key, largest);
        }
        s
    }
}

/// A count given by a caller (`k`, a quota), which must not be negative.
pub fn count(name: &'static str, value: i64) -> Result<usize> {
    usize::try_from(value).map_err(|_| param(name, format!("must not be negative, got {value}")))
}

/// Per-class counts given by a caller (`per_class_k`), none of which may be negative.
pub fn counts(name: &'static str, values: &[i64]) -> Result<Vec<usize>> {
    values
        .iter()
        .enumerate()
        .map(|(class, &v)| {
            usize::try_from(v)
                .map_err(|_| param(name, format!("must not be negative (class {class} has {v})")))
        })
        .collect()
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
                    format!(
                        "must be a number or an array of {c} values (one per class), got {} values",
                        ts.len()
                    ),
                ));
            }
            if let Some(i) = ts.iter().position(|t| t.is_nan()) {
                return Err(param("threshold", format!("for class {i} is NaN")));
            }
        }
        _ => {}
    }
    if let Some(q) = &p.per_class_k {
        if q.len() != c {
            return Err(param(
                "per_class_k",
                format!(
                    "must be an integer or an array of {c} integers (one per class), got {} values",
                    q.len()
                ),
            ));
        }
    }
    if let Some(ex) = p.exclude {
        if ex.len() != n {
            return Err(param(
                "exclude",
                format!("must be a boolean mask of length {n} (one per row), got length {}", ex.len()),
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
    if let Some(s) = select_compact(m, p)? {
        return Ok(s);
    }
    let candidates = select_candidates(m, p, 0)?;
    Ok(Selection::from_candidates(&candidates, p.largest))
}

/// Like `select`, but returns the raw sorted candidates with `offset` added to every row.
pub fn select_candidates<T: Prob>(m: &Matrix<T>, p: &SelectParams, offset: u64) -> Result<Vec<Candidate>> {
    if T::avx2_available() {
        select_with::<T, true>(m, p, offset)
    } else {
        select_with::<T, false>(m, p, offset)
    }
}

/// The keep-all fast path (see `compact`), or `None` when it does not apply.
fn select_compact<T: Prob>(m: &Matrix<T>, p: &SelectParams) -> Result<Option<Selection>> {
    if p.k.is_some() || p.per_class_k.is_some() || p.score == Score::Entropy {
        return Ok(None);
    }
    check_params(p, m.n, m.c)?;
    if m.c > MAX_CLASSES || m.n as u64 > MAX_ROWS || m.n == 0 {
        return Ok(None); // the general path reports these
    }
    let thresholds = thresholds_in::<T>(&p.threshold, m.c);
    if T::avx2_available() {
        crate::compact::select_keep_all::<T, true>(m, p, thresholds.as_deref())
    } else {
        crate::compact::select_keep_all::<T, false>(m, p, thresholds.as_deref())
    }
}

fn select_with<T: Prob, const AVX2: bool>(
    m: &Matrix<T>,
    p: &SelectParams,
    offset: u64,
) -> Result<Vec<Candidate>> {
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
    let thresholds = thresholds_in::<T>(&p.threshold, m.c);
    let block_rows = m.chunk_rows();
    let n_blocks = m.n.div_ceil(block_rows);
    let entropy = p.score == Score::Entropy;
    let scan = |ci: usize, acc: &mut Accumulator| {
        let start = ci * block_rows;
        let end = (start + block_rows).min(m.n);
        if entropy {
            scan_select::<T, true, AVX2>(m, p, thresholds.as_deref(), start, end, offset, acc)
        } else {
            scan_select::<T, false, AVX2>(m, p, thresholds.as_deref(), start, end, offset, acc)
        }
    };
    let n_parts = parts_for(n_blocks)?;
    let per_part = n_blocks.div_ceil(n_parts);
    if p.k.is_none() && p.per_class_k.is_none() {
        // keep everything that passes: each part appends, in row order, to one buffer
        // reserved for its worst case (only the written prefix becomes resident)
        let parts: Vec<(Accumulator, Option<usize>)> = parallel_map((0..n_parts).collect(), |part| {
                    let chunks = part * per_part..((part + 1) * per_part).min(n_blocks);
                    let rows = (chunks.end * block_rows).min(m.n).saturating_sub(chunks.start * block_rows);
                    let mut acc = Accumulator::keep_all(rows);
                    let mut bad = None;
                    for ci in chunks {
                        bad = min_opt(bad, scan(ci, &mut acc));
                        if bad.is_some() {
                            break;
                        }
                    }
                    (acc, bad)
        })?;
        if let Some(r) = parts.iter().filter_map(|x| x.1).min() {
            return Err(m.describe_bad_row(r));
        }
        let chunks: Vec<Vec<Candidate>> = parts.into_iter().map(|x| x.0.into_pushed()).collect();
        return with_pool(n_parts, || sort_chunks(chunks));
    }
    // one accumulator per part: memory O(parts * (k + quotas)), not per rayon split
    let parts: Vec<(Accumulator, Option<usize>)> = parallel_map((0..n_parts).collect(), |part| {
                let mut acc = Accumulator::new(p.k, p.per_class_k.clone());
                let mut bad = None;
                for ci in part * per_part..((part + 1) * per_part).min(n_blocks) {
                    bad = min_opt(bad, scan(ci, &mut acc));
                    if bad.is_some() {
                        break;
                    }
                }
                (acc, bad)
    })?;
    let mut iter = parts.into_iter();
    let (mut acc, mut bad) = iter.next().unwrap_or((Accumulator::new(p.k, p.per_class_k.clone()), None));
    for (a, b) in iter {
        acc.merge(a);
        bad = min_opt(bad, b);
    }
    if let Some(r) = bad {
        return Err(m.describe_bad_row(r));
    }
    with_pool(n_parts, || acc.finish())
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
fn scan_select<T: Prob, const ENTROPY: bool, const AVX2: bool>(
    m: &Matrix<T>,
    p: &SelectParams,
    thr: Option<&[T]>,
    start: usize,
    end: usize,
    offset: u64,
    acc: &mut Accumulator,
) -> Option<usize> {
    let mut first_bad = None;
    m.scan_rows::<ENTROPY, AVX2, _>(start, end, None, |r0, len, out| {
        if first_bad.is_some() {
            return; // the error is reported; nothing more to select
        }
        if out.bad != 0 {
            first_bad = Some(r0 + out.bad.trailing_zeros() as usize);
            return;
        }
        // branch-free mask of the lanes that pass exclude and threshold
        let mut keep = kept_lanes(p.exclude, r0, len);
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
            acc.push(Candidate::new(score_key(scores[l].to_f64(), p.largest), offset + row as u64, out.label[l]));
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
    let mut acc = Accumulator::new(k, per_class_k);
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
        acc.push(Candidate::new(score_key(scores[i], largest), indices[i] as u64, labels[i] as u32));
    }
    let many = if n > 1 << 16 { 2 } else { 1 };
    Ok(Selection::from_candidates(&with_pool(many, || acc.finish())?, largest))
}


#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};


    fn sel(p: &Array2<f64>, params: &SelectParams) -> Selection {
        let m = Matrix::new(p.view()).unwrap();
        select(&m, params).unwrap()
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
            let part = select_candidates(&mc, &params, start as u64).unwrap();
            let part = Selection::from_candidates(&part, true);
            all.indices.extend(part.indices);
            all.labels.extend(part.labels);
            all.scores.extend(part.scores);
        }
        let got = reduce_candidates(&all.indices, &all.labels, &all.scores, params.k, params.per_class_k.clone(), true).unwrap();
        assert_eq!(got, want);
    }
}
