//! Squared Euclidean distances for diverse batches: the min-distance update and ranked batch.
//!
//! Feature rows are `f32` or `f64`; every distance is summed in `f64` in one fixed order
//! (four lane sums, then a fixed combination), so a row's distance never depends on which
//! thread computed it or how the rows were split. Work is split into fixed blocks of rows;
//! reductions (argmax) combine the blocks in row order with strict comparisons, so ties go
//! to the lower row and results are bitwise independent of the thread count.

use rayon::prelude::*;

use crate::error::{param, KernelError, Result};
use crate::float::Prob;
use crate::threads::{parallel_map, with_pool};

/// Rows per parallel work item (fixed: never dependent on the thread count).
pub(crate) const ROWS_PER_JOB: usize = 2048;
/// Centers compared against one block of rows before moving to the next centers, so
/// that a block of centers stays in cache while the rows stream past.
const CENTERS_PER_BLOCK: usize = 128;

/// Ranked batch shares a pick's pass among threads from this many candidates on: below,
/// a pass costs less than waking them (on a loaded machine, far less).
const PARALLEL_MIN_CANDIDATES: usize = 1 << 20;

/// A borrowed, row-major matrix of feature rows (`n` rows of `d` features).
#[derive(Clone, Copy, Debug)]
pub struct Points<'a, T> {
    data: &'a [T],
    pub n: usize,
    pub d: usize,
}

impl<'a, T: Prob> Points<'a, T> {
    /// Borrow `data` as `n` rows of `d` features; every value must be finite. `name` is
    /// what the caller calls the matrix (used in errors).
    pub fn new(name: &'static str, data: &'a [T], n: usize, d: usize) -> Result<Self> {
        if n.checked_mul(d) != Some(data.len()) {
            return Err(KernelError::Shape(format!(
                "{name} holds {} values, not {n} rows x {d} features",
                data.len()
            )));
        }
        if let Some(at) = data.iter().position(|v| !v.to_f64().is_finite()) {
            let (row, col) = if d == 0 { (0, 0) } else { (at / d, at % d) };
            return Err(KernelError::Shape(format!(
                "{name} must be finite: row {row}, column {col} is {:?}",
                data[at]
            )));
        }
        Ok(Points { data, n, d })
    }

    /// Row `i` (`i < n`).
    #[inline(always)]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

/// Check that two matrices have the same number of features.
pub(crate) fn same_width<T>(a: &Points<T>, a_name: &str, b: &Points<T>, b_name: &str) -> Result<()> {
    if a.d != b.d {
        return Err(KernelError::Shape(format!(
            "{b_name} has {} features per row, {a_name} has {}",
            b.d, a.d
        )));
    }
    Ok(())
}

/// `||a - b||^2` summed in `f64` in a fixed order.
#[inline(always)]
pub fn sq_dist<T: Prob>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            let t = x[l].to_f64() - y[l].to_f64();
            acc[l] += t * t;
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        let t = x.to_f64() - y.to_f64();
        acc[l] += t * t;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// `a . b` summed in `f64` in a fixed order.
#[inline(always)]
pub fn dot<T: Prob>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..4 {
            acc[l] += x[l].to_f64() * y[l].to_f64();
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += x.to_f64() * y.to_f64();
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Apply `f(first_row, chunk)` to consecutive chunks of `ROWS_PER_JOB` values of `v`, in
/// parallel on the kernels' pool (on the calling thread when there is only one chunk).
pub(crate) fn for_each_chunk<V: Send>(
    v: &mut [V],
    f: impl Fn(usize, &mut [V]) + Send + Sync,
) -> Result<()> {
    let jobs = v.len().div_ceil(ROWS_PER_JOB);
    if jobs <= 1 {
        return with_pool(1, || f(0, v));
    }
    with_pool(jobs, || {
        v.par_chunks_mut(ROWS_PER_JOB).enumerate().for_each(|(j, c)| f(j * ROWS_PER_JOB, c))
    })
}

/// Update rows `first .. first + mins.len()` against every center, block of centers by
/// block of centers; a strictly smaller distance replaces the minimum (so among equal
/// distances the earlier, lower-index center stays).
fn update_rows<T: Prob>(
    pool: &Points<T>,
    centers: &Points<T>,
    first: usize,
    mins: &mut [f64],
    mut nearest: Option<&mut [i64]>,
    center_offset: i64,
) {
    for c0 in (0..centers.n).step_by(CENTERS_PER_BLOCK) {
        let c1 = (c0 + CENTERS_PER_BLOCK).min(centers.n);
        for (k, m) in mins.iter_mut().enumerate() {
            let x = pool.row(first + k);
            let mut best = *m;
            let mut arg = None;
            for c in c0..c1 {
                let dist = sq_dist(x, centers.row(c));
                if dist < best {
                    best = dist;
                    arg = Some(c);
                }
            }
            if let Some(c) = arg {
                *m = best;
                if let Some(near) = nearest.as_deref_mut() {
                    near[k] = center_offset + c as i64;
                }
            }
        }
    }
}

/// `current_min[i] = min(current_min[i], min_j ||pool_i - centers_j||^2)` for every pool row.
///
/// When `nearest` is given, `nearest[i]` becomes `center_offset + j` for the center `j`
/// that lowered row `i`'s minimum (the lowest such `j` on ties); rows whose minimum did not
/// strictly decrease keep their value. Memory is `O(1)` beyond the arguments.
pub fn min_distance_update<T: Prob>(
    pool: &Points<T>,
    centers: &Points<T>,
    current_min: &mut [f64],
    nearest: Option<&mut [i64]>,
    center_offset: i64,
) -> Result<()> {
    same_width(pool, "the pool", centers, "centers")?;
    if current_min.len() != pool.n {
        return Err(param(
            "current_min",
            format!("must have one value per pool row ({}), got {}", pool.n, current_min.len()),
        ));
    }
    if let Some(at) = current_min.iter().position(|v| v.is_nan()) {
        return Err(param("current_min", format!("must not be NaN (row {at} is)")));
    }
    if centers.n == 0 || pool.n == 0 {
        return Ok(());
    }
    match nearest {
        None => for_each_chunk(current_min, |first, mins| {
            update_rows(pool, centers, first, mins, None, center_offset)
        }),
        Some(near) => {
            if near.len() != pool.n {
                return Err(param(
                    "nearest",
                    format!("must have one value per pool row ({}), got {}", pool.n, near.len()),
                ));
            }
            let mut pairs: Vec<(&mut [f64], &mut [i64])> =
                current_min.chunks_mut(ROWS_PER_JOB).zip(near.chunks_mut(ROWS_PER_JOB)).collect();
            for_each_pair(&mut pairs, |first, mins, near| {
                update_rows(pool, centers, first, mins, Some(near), center_offset)
            })
        }
    }
}

fn for_each_pair(
    pairs: &mut [(&mut [f64], &mut [i64])],
    f: impl Fn(usize, &mut [f64], &mut [i64]) + Send + Sync,
) -> Result<()> {
    if pairs.len() <= 1 {
        return with_pool(1, || {
            for (m, a) in pairs.iter_mut() {
                f(0, m, a)
            }
        });
    }
    with_pool(pairs.len(), || {
        pairs.par_iter_mut().enumerate().for_each(|(j, (m, a))| f(j * ROWS_PER_JOB, m, a))
    })
}

/// The picks of a ranked batch: positions into the candidate rows, in pick order, and each
/// pick's score when it was picked.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedBatch {
    pub positions: Vec<i64>,
    pub scores: Vec<f64>,
}

/// The best (score, row) of a block: the highest score, the lowest row on ties; `None`
/// when every row of the block is taken.
type Best = Option<(f64, usize)>;

fn better(a: Best, b: Best) -> Best {
    match (a, b) {
        (Some((sa, ia)), Some((sb, ib))) => {
            if sb > sa || (sb == sa && ib < ia) {
                b
            } else {
                a
            }
        }
        (None, b) => b,
        (a, None) => a,
    }
}

/// Ranked batch-mode sampling (Cardoso et al. 2017), the loop of modAL's `ranked_batch`.
///
/// Each candidate `x` scores `alpha * (1 - 1 / (1 + d(x))) + (1 - alpha) * u(x)` with `d`
/// the Euclidean distance to the nearest labeled or already-picked row (similarity 0 when
/// there is none) and `alpha = n_unl / (n_unl + n_lab)`, where at pick `j`
/// `n_unl = n_unlabeled - j` and `n_lab = labeled.n + j` (`alpha = 1` when both are 0).
/// The highest score is picked (the lowest position on ties); then the distances to the
/// new pick are folded in, one pass over the candidates per pick.
pub fn ranked_batch<T: Prob>(
    candidates: &Points<T>,
    uncertainty: &[f64],
    labeled: &Points<T>,
    n: usize,
    n_unlabeled: usize,
) -> Result<RankedBatch> {
    same_width(candidates, "the candidates", labeled, "the labeled rows")?;
    let m = candidates.n;
    if uncertainty.len() != m {
        return Err(param(
            "uncertainty",
            format!("must have one value per candidate ({m}), got {}", uncertainty.len()),
        ));
    }
    if let Some(at) = uncertainty.iter().position(|v| !v.is_finite()) {
        return Err(param("uncertainty", format!("must be finite (candidate {at} is {})", uncertainty[at])));
    }
    if n > m {
        return Err(param("n", format!("must be at most the number of candidates ({m}), got {n}")));
    }
    // each candidate's distance to its nearest center (labeled row or pick) and that center
    let mut dist = vec![f64::INFINITY; m];
    let mut nearest = vec![-1i64; m];
    min_distance_update(candidates, labeled, &mut dist, Some(&mut nearest), 0)?;
    for_each_chunk(&mut dist, |_, c| c.iter_mut().for_each(|v| *v = v.sqrt()))?;
    let mut centers: Vec<&[T]> = (0..labeled.n).map(|j| labeled.row(j)).collect();
    let mut taken = vec![false; m];
    let mut out = RankedBatch { positions: Vec::with_capacity(n), scores: Vec::with_capacity(n) };
    let alpha = |j: usize| {
        let n_unl = n_unlabeled.saturating_sub(j) as f64;
        let n_lab = (labeled.n + j) as f64;
        if n_unl + n_lab > 0.0 {
            n_unl / (n_unl + n_lab)
        } else {
            1.0
        }
    };
    let score = |d: f64, u: f64, a: f64| {
        let similarity = if d.is_infinite() { 0.0 } else { 1.0 / (1.0 + d) };
        a * (1.0 - similarity) + (1.0 - a) * u
    };
    let blocks: Vec<usize> = (0..m.div_ceil(ROWS_PER_JOB)).collect();
    // the first pick: scores from the labeled distances only
    let a0 = alpha(0);
    let mut best = parallel_map(blocks, |b| {
        let (lo, hi) = (b * ROWS_PER_JOB, ((b + 1) * ROWS_PER_JOB).min(m));
        let mut acc: Best = None;
        for i in lo..hi {
            acc = better(acc, Some((score(dist[i], uncertainty[i], a0), i)));
        }
        acc
    })?
    .into_iter()
    .fold(None, better);
    for j in 0..n {
        let Some((s, pick)) = best else { break };
        out.positions.push(pick as i64);
        out.scores.push(s);
        taken[pick] = true;
        if j + 1 == n {
            break;
        }
        // fold in the distances to the new pick and find the next best in the same pass; a
        // candidate at distance d from its nearest center c can only come nearer to the
        // pick when |c - pick| <= 2 d (triangle inequality), so most are never measured
        let a_next = alpha(j + 1);
        let x = candidates.row(pick);
        let to_center: Vec<f64> = centers.iter().map(|c| sq_dist(c, x)).collect();
        let new_id = centers.len() as i64;
        centers.push(x);
        let mut parts: Vec<(&mut [f64], &mut [i64], &[bool])> = dist
            .chunks_mut(ROWS_PER_JOB)
            .zip(nearest.chunks_mut(ROWS_PER_JOB))
            .zip(taken.chunks(ROWS_PER_JOB))
            .map(|((d, c), t)| (d, c, t))
            .collect();
        let step = |first: usize, d: &mut [f64], near: &mut [i64], t: &[bool]| -> Best {
            let mut acc: Best = None;
            for k in 0..d.len() {
                if t[k] {
                    continue;
                }
                let i = first + k;
                let far_enough = near[k] >= 0
                    && to_center[near[k] as usize] > 4.0 * d[k] * d[k] * (1.0 + 1e-9);
                if !far_enough {
                    let nd = sq_dist(candidates.row(i), x).sqrt();
                    if nd < d[k] {
                        d[k] = nd;
                        near[k] = new_id;
                    }
                }
                acc = better(acc, Some((score(d[k], uncertainty[i], a_next), i)));
            }
            acc
        };
        let found: Vec<Best> = if m < PARALLEL_MIN_CANDIDATES {
            let run = || parts.iter_mut().enumerate().map(|(b, (d, c, t))| step(b * ROWS_PER_JOB, d, c, t)).collect();
            with_pool(1, run)?
        } else {
            with_pool(parts.len(), || {
                parts.par_iter_mut().enumerate().map(|(b, (d, c, t))| step(b * ROWS_PER_JOB, d, c, t)).collect()
            })?
        };
        best = found.into_iter().fold(None, better);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64) / ((1u64 << 53) as f64)
    }

    #[test]
    fn min_distance_matches_naive_and_ties_go_to_the_lower_center() {
        let mut seed = 7;
        let (n, c, d) = (5000, 37, 5);
        let pool: Vec<f32> = (0..n * d).map(|_| (lcg(&mut seed) * 8.0).floor() as f32).collect();
        let centers: Vec<f32> = (0..c * d).map(|_| (lcg(&mut seed) * 8.0).floor() as f32).collect();
        let p = Points::new("pool", &pool, n, d).unwrap();
        let cs = Points::new("centers", &centers, c, d).unwrap();
        let mut mins = vec![f64::INFINITY; n];
        let mut near = vec![-1i64; n];
        min_distance_update(&p, &cs, &mut mins, Some(&mut near), 10).unwrap();
        for i in 0..n {
            let all: Vec<f64> = (0..c).map(|j| sq_dist(p.row(i), cs.row(j))).collect();
            let best = all.iter().cloned().fold(f64::INFINITY, f64::min);
            assert_eq!(mins[i], best);
            let first = all.iter().position(|&v| v == best).unwrap();
            assert_eq!(near[i], 10 + first as i64);
        }
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let mut seed = 3;
        let (n, d) = (9000, 3);
        let pool: Vec<f64> = (0..n * d).map(|_| lcg(&mut seed)).collect();
        let u: Vec<f64> = (0..n).map(|_| lcg(&mut seed)).collect();
        let lab: Vec<f64> = (0..2 * d).map(|_| lcg(&mut seed)).collect();
        let p = Points::new("pool", &pool, n, d).unwrap();
        let l = Points::new("labeled", &lab, 2, d).unwrap();
        let run = || ranked_batch(&p, &u, &l, 40, n).unwrap();
        crate::set_num_threads(1).unwrap();
        let one = run();
        crate::set_num_threads(3).unwrap();
        let three = run();
        assert_eq!(one, three);
    }

    #[test]
    fn bad_input_is_named() {
        let v = [1.0f32, f32::NAN];
        let e = Points::new("the pool", &v, 1, 2).unwrap_err();
        assert!(e.to_string().contains("row 0, column 1"), "{e}");
        assert!(Points::new("the pool", &v, 3, 2).is_err());
    }
}
