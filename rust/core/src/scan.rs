//! The one-pass row scan shared by every kernel.
//!
//! Rows are processed in blocks of `LANES`. A block is first transposed into a small
//! column-major buffer (`tmp[j * LANES + l] = P[r0 + l, j]`), so that the top-2 / argmax /
//! entropy recurrences run across `LANES` rows at once in SIMD registers, branch-free.
//! Validation (NaN, inf, outside [0, 1]) is folded into the same pass.

use ndarray::ArrayView2;

use crate::error::{KernelError, Result, ValueProblem};
use crate::float::Prob;

pub const LANES: usize = 16;

/// Per-lane results of scanning one block.
pub struct BlockOut<T: Prob> {
    pub label: [u32; LANES],
    pub m1: [T; LANES],
    pub m2: [T; LANES],
    /// `sum_j p log p` (not yet negated); only filled when entropy is requested.
    pub xlogx: [T; LANES],
    pub bad: [bool; LANES],
}

impl<T: Prob> BlockOut<T> {
    pub fn new() -> Self {
        BlockOut {
            label: [0; LANES],
            m1: [T::NEG_INF; LANES],
            m2: [T::ZERO; LANES],
            xlogx: [T::ZERO; LANES],
            bad: [false; LANES],
        }
    }
}

impl<T: Prob> Default for BlockOut<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where rows come from: a C-contiguous slice (fast path, no copy) or any strided view.
#[derive(Clone, Copy)]
pub enum Rows<'a, T> {
    Contiguous(&'a [T]),
    Strided(ArrayView2<'a, T>),
}

/// A borrowed probability matrix of `n` rows and `c` columns.
#[derive(Clone, Copy)]
pub struct Matrix<'a, T> {
    pub rows: Rows<'a, T>,
    pub n: usize,
    pub c: usize,
}

impl<'a, T: Prob> Matrix<'a, T> {
    /// Borrow a view; C-contiguous input is read in place, other layouts through strides.
    pub fn new(view: ArrayView2<'a, T>) -> Result<Self> {
        let (n, c) = view.dim();
        if c == 0 {
            return Err(KernelError::Shape(
                "probabilities must have at least one column (C == 0)".into(),
            ));
        }
        let rows = match view.to_slice() {
            Some(s) => Rows::Contiguous(s),
            None => Rows::Strided(view),
        };
        Ok(Matrix { rows, n, c })
    }

    #[inline(always)]
    pub fn get(&self, r: usize, j: usize) -> T {
        match self.rows {
            Rows::Contiguous(s) => s[r * self.c + j],
            Rows::Strided(v) => v[[r, j]],
        }
    }

    /// Row-major rows per parallel work item: fixed for a given C (never depends on the
    /// thread count), so that floating-point sums are reproducible.
    pub fn chunk_rows(&self) -> usize {
        let target = (1usize << 16) / self.c.max(1);
        target.clamp(256, 1 << 16).next_multiple_of(LANES)
    }

    /// Transpose rows `r0 .. r0 + len` (len <= LANES) into `tmp`, zero-padding missing lanes.
    #[inline(always)]
    fn load_block(&self, r0: usize, len: usize, tmp: &mut [T]) {
        let c = self.c;
        match self.rows {
            Rows::Contiguous(s) => {
                let block = &s[r0 * c..(r0 + len) * c];
                if len == LANES {
                    for l in 0..LANES {
                        let row = &block[l * c..(l + 1) * c];
                        for (j, &v) in row.iter().enumerate() {
                            tmp[j * LANES + l] = v;
                        }
                    }
                } else {
                    tmp[..c * LANES].fill(T::ZERO);
                    for l in 0..len {
                        let row = &block[l * c..(l + 1) * c];
                        for (j, &v) in row.iter().enumerate() {
                            tmp[j * LANES + l] = v;
                        }
                    }
                }
            }
            Rows::Strided(v) => {
                if len < LANES {
                    tmp[..c * LANES].fill(T::ZERO);
                }
                for j in 0..c {
                    let col = v.column(j);
                    for l in 0..len {
                        tmp[j * LANES + l] = col[r0 + l];
                    }
                }
            }
        }
    }

    /// Scan rows `r0 .. r0 + len`. When `col_sum` is given, adds each column's sum over
    /// the block to it (in a fixed order).
    #[inline(always)]
    pub fn scan_block<const ENTROPY: bool>(
        &self,
        r0: usize,
        len: usize,
        tmp: &mut [T],
        out: &mut BlockOut<T>,
        col_sum: Option<&mut [f64]>,
    ) {
        self.load_block(r0, len, tmp);
        scan_transposed::<T, ENTROPY>(tmp, self.c, out, col_sum);
    }

    /// Locate and describe the first invalid value of row `r`.
    pub fn describe_bad_row(&self, r: usize) -> KernelError {
        for j in 0..self.c {
            let v = self.get(r, j);
            let f = v.to_f64();
            let problem = if f.is_nan() {
                Some(ValueProblem::NaN)
            } else if f.is_infinite() {
                Some(ValueProblem::Infinite)
            } else if !(0.0..=1.0).contains(&f) {
                Some(ValueProblem::OutOfRange)
            } else {
                None
            };
            if let Some(problem) = problem {
                return KernelError::InvalidProbability { row: r, col: j, value: f, problem };
            }
        }
        // unreachable for a row flagged bad; report the row anyway
        KernelError::Shape(format!("row {r} was flagged invalid but holds valid values"))
    }
}

#[inline(always)]
fn scan_transposed<T: Prob, const ENTROPY: bool>(
    tmp: &[T],
    c: usize,
    out: &mut BlockOut<T>,
    col_sum: Option<&mut [f64]>,
) {
    let mut m1 = [T::NEG_INF; LANES];
    let mut m2 = [T::ZERO; LANES];
    let mut idx = [0u32; LANES];
    let mut bad = [false; LANES];
    let mut ent = [T::ZERO; LANES];
    for j in 0..c {
        let col: &[T; LANES] = tmp[j * LANES..(j + 1) * LANES].try_into().unwrap();
        let jj = j as u32;
        for l in 0..LANES {
            let v = col[l];
            bad[l] |= !(v >= T::ZERO && v <= T::ONE);
            let gt = v > m1[l];
            m2[l] = m2[l].max_of(v.min_of(m1[l]));
            m1[l] = if gt { v } else { m1[l] };
            idx[l] = if gt { jj } else { idx[l] };
            if ENTROPY {
                ent[l] = ent[l] + v.xlogx();
            }
        }
    }
    if let Some(sums) = col_sum {
        for j in 0..c {
            let col = &tmp[j * LANES..(j + 1) * LANES];
            let mut s = 0.0f64;
            for &v in col {
                s += v.to_f64();
            }
            sums[j] += s;
        }
    }
    out.m1 = m1;
    out.m2 = m2;
    out.label = idx;
    out.bad = bad;
    if ENTROPY {
        out.xlogx = ent;
    }
}

/// Which per-row score a selection ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    Confidence,
    Margin,
    Entropy,
}

impl Score {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "confidence" => Ok(Score::Confidence),
            "margin" => Ok(Score::Margin),
            "entropy" => Ok(Score::Entropy),
            other => Err(crate::error::param(
                "score",
                format!("unknown score {other:?}; expected 'confidence', 'margin' or 'entropy'"),
            )),
        }
    }

    #[inline(always)]
    pub fn of<T: Prob>(self, out: &BlockOut<T>, l: usize) -> T {
        match self {
            Score::Confidence => out.m1[l],
            Score::Margin => out.m1[l] - out.m2[l],
            Score::Entropy => T::ZERO - out.xlogx[l],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn chunk_rows_is_a_multiple_of_lanes() {
        for c in [1, 3, 10, 100, 1000, 100_000] {
            let a = Array2::<f32>::zeros((2, c));
            let m = Matrix::new(a.view()).unwrap();
            assert_eq!(m.chunk_rows() % LANES, 0);
            assert!(m.chunk_rows() >= 256);
        }
    }

    #[test]
    fn zero_columns_is_a_shape_error() {
        let a = Array2::<f64>::zeros((3, 0));
        assert!(matches!(Matrix::new(a.view()), Err(KernelError::Shape(_))));
    }
}
