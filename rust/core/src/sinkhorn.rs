//! `sinkhorn`: the Sinkhorn allocation of Confident Sinkhorn Allocation (Nguyen et al.,
//! ICML 2023), fused into one multi-threaded pass over the rows per iteration.
//!
//! The kept rows (those that passed the caller's confidence filter) are transported to the
//! classes under class-proportion constraints. With `n` kept rows, `C` classes, the
//! allocated fraction `rho` and per-class bounds `w+` (`upper`) and `w-` (`lower`):
//!
//! - cost `1 - p_ij`, kernel `K_ij = exp(-(1 - p_ij) / regularization)`;
//! - one slack column (a row's "unassigned" mass) and one slack row (the classes' slack
//!   between their bounds), both of cost 0 (kernel 1);
//! - row marginals `a = (1, ..., 1, n rho (sum w+ - sum w-))`;
//! - column marginals `b = (n rho w+_1, ..., n rho w+_C, n (1 - rho sum w-))`.
//!
//! Each iteration sets `v = b / (K^T u)` and then `u = a / (K v)`; the pass that updates `u`
//! also accumulates the next `K^T u`, so an iteration reads the kernel matrix once. The plan
//! is `Q_ij = u_i K_ij v_j` over the real rows and classes. Column sums run over a fixed
//! partition of the rows (blocks of [`BLOCK_ROWS`]), added in block order, so the result is
//! bitwise the same for any number of threads. A zero denominator gives a zero scale.

use crate::error::{param, KernelError, Result};
use crate::float::Prob;
use crate::scan::Matrix;
use crate::threads::parallel_map;

/// Rows per work item of a Sinkhorn pass: fixed, never dependent on the thread count.
pub const BLOCK_ROWS: usize = 2048;

/// The most iterations accepted.
pub const MAX_ITERATIONS: usize = 100_000;

/// The parameters of [`sinkhorn`].
#[derive(Debug, Clone, PartialEq)]
pub struct SinkhornParams {
    /// `w+`: the upper bound of each class's share, one per class, finite and >= 0.
    pub upper: Vec<f64>,
    /// `w-`: the lower bound of each class's share, `0 <= lower <= upper`.
    pub lower: Vec<f64>,
    /// The fraction of the kept rows to allocate, in (0, 1]; `rho * sum(lower) < 1`.
    pub rho: f64,
    /// The entropic regularization (temperature of the kernel), > 0.
    pub regularization: f64,
    /// The number of Sinkhorn iterations, 1 ..= [`MAX_ITERATIONS`].
    pub n_iter: usize,
}

/// The result of [`sinkhorn`].
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// The plan over all `N` rows (row-major, `N x C`): zero for rows not kept.
    pub plan: Vec<f64>,
    /// `u`: the scale of each kept row, in row order, then the slack row's (`n + 1`).
    pub row_scale: Vec<f64>,
    /// `v`: the scale of each class, then the slack column's (`C + 1`).
    pub col_scale: Vec<f64>,
}

fn check_params(p: &SinkhornParams, c: usize) -> Result<()> {
    for (name, bounds) in [("upper", &p.upper), ("lower", &p.lower)] {
        if bounds.len() != c {
            return Err(param(name, format!("must have one entry per class ({c}), got {}", bounds.len())));
        }
        if let Some((j, v)) = bounds.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
            return Err(param(name, format!("must be finite and >= 0, got {v} for class {j}")));
        }
    }
    if let Some(j) = (0..c).find(|&j| p.lower[j] > p.upper[j]) {
        return Err(param(
            "lower",
            format!("must not exceed upper, got {} > {} for class {j}", p.lower[j], p.upper[j]),
        ));
    }
    if !(p.rho > 0.0 && p.rho <= 1.0) {
        return Err(param("rho", format!("must be in (0, 1], got {}", p.rho)));
    }
    let low: f64 = p.lower.iter().sum();
    if p.rho * low >= 1.0 {
        return Err(param(
            "rho",
            format!("times sum(lower) must be below 1 (the slack column needs mass), got {} x {low}", p.rho),
        ));
    }
    if !(p.regularization.is_finite() && p.regularization > 0.0) {
        return Err(param("regularization", format!("must be a finite number > 0, got {}", p.regularization)));
    }
    if p.n_iter < 1 || p.n_iter > MAX_ITERATIONS {
        return Err(param("n_iter", format!("must be in [1, {MAX_ITERATIONS}], got {}", p.n_iter)));
    }
    Ok(())
}

/// `a / s`, or 0 when `s` is 0 (a row or column no mass can reach).
#[inline(always)]
fn ratio(a: f64, s: f64) -> f64 {
    if s > 0.0 {
        a / s
    } else {
        0.0
    }
}

/// One block of kept rows: its kernel values (`len x C`, row-major) and its row scales.
struct Block {
    kernel: Vec<f64>,
    scale: Vec<f64>,
}

/// Update the row scales of a block from `v` and return the block's column sums of
/// `K_ij u_i` (C entries, then the slack column's `sum u_i`).
fn row_pass(block: &mut Block, v: &[f64], c: usize) -> Vec<f64> {
    let slack = v[c];
    let mut sums = vec![0.0f64; c + 1];
    for (row, u) in block.kernel.chunks_exact(c).zip(block.scale.iter_mut()) {
        let mut s = slack;
        for (k, vj) in row.iter().zip(v) {
            s += k * vj;
        }
        *u = ratio(1.0, s);
        for (acc, k) in sums.iter_mut().zip(row) {
            *acc += k * *u;
        }
        sums[c] += *u;
    }
    sums
}

/// Allocate the kept rows of `m` to classes: see the module documentation.
///
/// `keep`, when given, has one entry per row; rows with `false` take no part (their plan
/// row is zero). Probabilities of kept rows must be finite and in [0, 1].
pub fn sinkhorn<T: Prob>(m: &Matrix<T>, keep: Option<&[bool]>, p: &SinkhornParams) -> Result<Allocation> {
    let (n_rows, c) = (m.n, m.c);
    check_params(p, c)?;
    if let Some(k) = keep {
        if k.len() != n_rows {
            return Err(param("keep", format!("must have one entry per row ({n_rows}), got {}", k.len())));
        }
    }
    let kept: Vec<usize> = match keep {
        Some(k) => (0..n_rows).filter(|&i| k[i]).collect(),
        None => (0..n_rows).collect(),
    };
    let n = kept.len();
    let reg = p.regularization;

    // the kernel matrix of the kept rows, block by block, checking every value
    let jobs: Vec<&[usize]> = kept.chunks(BLOCK_ROWS).collect();
    let built = parallel_map(jobs, |rows: &[usize]| -> std::result::Result<Block, KernelError> {
        let mut kernel = Vec::with_capacity(rows.len() * c);
        for &i in rows {
            for j in 0..c {
                let x = m.get(i, j).to_f64();
                if !(0.0..=1.0).contains(&x) {
                    return Err(m.describe_bad_row(i));
                }
                kernel.push((-(1.0 - x) / reg).exp());
            }
        }
        Ok(Block { kernel, scale: vec![1.0; rows.len()] })
    })?;
    let mut blocks = built.into_iter().collect::<Result<Vec<Block>>>()?;

    let nf = n as f64;
    let (upper_sum, lower_sum): (f64, f64) = (p.upper.iter().sum(), p.lower.iter().sum());
    let slack_row_mass = nf * p.rho * (upper_sum - lower_sum);
    let mut col_mass: Vec<f64> = p.upper.iter().map(|w| nf * p.rho * w).collect();
    col_mass.push(nf * (1.0 - p.rho * lower_sum));

    // K^T u with u = 1: the block sums of the kernel, plus the slack row (u_slack = 1)
    let sum_blocks = |parts: Vec<Vec<f64>>, slack_scale: f64| -> Vec<f64> {
        let mut total = vec![0.0f64; c + 1];
        for part in parts {
            for (t, x) in total.iter_mut().zip(part) {
                *t += x;
            }
        }
        for t in total.iter_mut() {
            *t += slack_scale;
        }
        total
    };
    let first = parallel_map(blocks.iter().collect::<Vec<_>>(), |b: &Block| {
            let mut sums = vec![0.0f64; c + 1];
            for row in b.kernel.chunks_exact(c) {
                for (acc, k) in sums.iter_mut().zip(row) {
                    *acc += k;
                }
                sums[c] += 1.0;
            }
            sums
    })?;
    let mut col_sum = sum_blocks(first, 1.0);
    let mut v = vec![0.0f64; c + 1];
    let mut slack_scale = 1.0f64;

    for _ in 0..p.n_iter {
        for j in 0..=c {
            v[j] = ratio(col_mass[j], col_sum[j]);
        }
        let v_ref = &v;
        let parts = parallel_map(blocks.iter_mut().collect::<Vec<_>>(), |b: &mut Block| row_pass(b, v_ref, c))?;
        // the slack row's kernel is 1 in every column
        slack_scale = ratio(slack_row_mass, v.iter().sum());
        col_sum = sum_blocks(parts, slack_scale);
    }

    let mut plan = vec![0.0f64; n_rows * c];
    let mut row_scale = Vec::with_capacity(n + 1);
    let mut rows = kept.iter();
    for b in &blocks {
        for (krow, &u) in b.kernel.chunks_exact(c).zip(&b.scale) {
            let i = *rows.next().expect("one kept row per kernel row");
            for j in 0..c {
                plan[i * c + j] = u * krow[j] * v[j];
            }
            row_scale.push(u);
        }
    }
    row_scale.push(slack_scale);
    Ok(Allocation { plan, row_scale, col_scale: v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn params(c: usize) -> SinkhornParams {
        let share = 1.0 / c as f64;
        SinkhornParams {
            upper: vec![share * 1.1; c],
            lower: vec![share * 0.9; c],
            rho: 0.5,
            regularization: 0.1,
            n_iter: 200,
        }
    }

    fn random_proba(n: usize, c: usize, seed: u64) -> Array2<f64> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut a = Array2::<f64>::zeros((n, c));
        for mut row in a.rows_mut() {
            for x in row.iter_mut() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                *x = ((state >> 11) as f64 / (1u64 << 53) as f64).powi(3) + 1e-3;
            }
            let s: f64 = row.sum();
            row.mapv_inplace(|x| x / s);
        }
        a
    }

    #[test]
    fn marginals_hold_after_convergence() {
        let (n, c) = (5000, 4);
        let a = random_proba(n, c, 7);
        let p = params(c);
        let out = sinkhorn(&Matrix::new(a.view()).unwrap(), None, &p).unwrap();
        // rows: each real row's plan plus its slack entry sums to 1 (u was updated last)
        let v = &out.col_scale;
        for i in 0..n {
            let row: f64 = (0..c).map(|j| out.plan[i * c + j]).sum::<f64>() + out.row_scale[i] * v[c];
            assert!((row - 1.0).abs() < 1e-9, "row {i}: {row}");
        }
        // columns: close to their marginals once converged
        let u_slack = out.row_scale[n];
        for j in 0..c {
            let col: f64 = (0..n).map(|i| out.plan[i * c + j]).sum::<f64>() + u_slack * v[j];
            let want = n as f64 * p.rho * p.upper[j];
            assert!((col - want).abs() / want < 1e-6, "column {j}: {col} vs {want}");
        }
    }

    #[test]
    fn bitwise_independent_of_threads_and_layout() {
        let a = random_proba(3 * BLOCK_ROWS + 17, 3, 11);
        let keep: Vec<bool> = (0..a.nrows()).map(|i| i % 5 != 0).collect();
        let p = params(3);
        crate::set_num_threads(1).unwrap();
        let one = sinkhorn(&Matrix::new(a.view()).unwrap(), Some(&keep), &p).unwrap();
        crate::set_num_threads(2).unwrap();
        let two = sinkhorn(&Matrix::new(a.view()).unwrap(), Some(&keep), &p).unwrap();
        let f = a.t().to_owned();
        let fortran = sinkhorn(&Matrix::new(f.t()).unwrap(), Some(&keep), &p).unwrap();
        crate::set_num_threads(4).unwrap();
        let four = sinkhorn(&Matrix::new(a.view()).unwrap(), Some(&keep), &p).unwrap();
        for other in [&two, &fortran, &four] {
            assert!(one.plan.iter().zip(&other.plan).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(one.row_scale.iter().zip(&other.row_scale).all(|(x, y)| x.to_bits() == y.to_bits()));
        }
        // dropped rows have a zero plan
        assert!(one.plan[..3].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn bad_input_is_named() {
        let a = random_proba(10, 2, 3);
        let m = Matrix::new(a.view()).unwrap();
        let mut p = params(2);
        p.upper.pop();
        assert!(matches!(sinkhorn(&m, None, &p), Err(KernelError::Parameter { name: "upper", .. })));
        let mut p = params(2);
        p.lower[1] = 2.0;
        assert!(matches!(sinkhorn(&m, None, &p), Err(KernelError::Parameter { name: "lower", .. })));
        let mut p = params(2);
        p.rho = 0.0;
        assert!(matches!(sinkhorn(&m, None, &p), Err(KernelError::Parameter { name: "rho", .. })));
        let mut p = params(2);
        p.regularization = f64::NAN;
        assert!(matches!(sinkhorn(&m, None, &p), Err(KernelError::Parameter { name: "regularization", .. })));
        let mut p = params(2);
        p.n_iter = 0;
        assert!(matches!(sinkhorn(&m, None, &p), Err(KernelError::Parameter { name: "n_iter", .. })));
        assert!(matches!(sinkhorn(&m, Some(&[true]), &params(2)), Err(KernelError::Parameter { name: "keep", .. })));
        let mut b = a.clone();
        b[[4, 1]] = f64::NAN;
        let err = sinkhorn(&Matrix::new(b.view()).unwrap(), None, &params(2)).unwrap_err();
        assert!(matches!(err, KernelError::InvalidProbability { row: 4, col: 1, .. }));
        // a bad value in a dropped row is not read
        let keep: Vec<bool> = (0..10).map(|i| i != 4).collect();
        assert!(sinkhorn(&Matrix::new(b.view()).unwrap(), Some(&keep), &params(2)).is_ok());
    }

    #[test]
    fn no_kept_row_gives_an_empty_plan() {
        let a = random_proba(4, 2, 5);
        let out = sinkhorn(&Matrix::new(a.view()).unwrap(), Some(&[false; 4]), &params(2)).unwrap();
        assert!(out.plan.iter().all(|&x| x == 0.0));
        assert_eq!(out.row_scale.len(), 1);
    }
}
