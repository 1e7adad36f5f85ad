//! Borrowed probability matrices and the row scan that every kernel is built on.
//!
//! Rows are scanned in blocks of [`LANES`] by [`crate::block`]. C-contiguous input is read
//! in place; any other layout (and the last, partial block) is first copied block by block
//! into a small row-major buffer, so every layout goes through the same arithmetic and gives
//! bitwise the same results.

use ndarray::ArrayView2;

pub use crate::block::{BlockOut, LANES};
use crate::error::{KernelError, Result, ValueProblem};
use crate::float::Prob;

/// Where rows come from: a C-contiguous slice (no copy) or any strided view.
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
            return Err(KernelError::Shape(format!(
                "P must have at least one class column, got shape ({n}, 0)"
            )));
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

    /// Rows per parallel work item: fixed for a given C (never dependent on the thread
    /// count), so that floating-point sums are reproducible.
    pub fn chunk_rows(&self) -> usize {
        let target = (1usize << 16) / self.c.max(1);
        target.clamp(256, 1 << 16).next_multiple_of(LANES)
    }

    /// Scan rows `start .. end` block by block, calling `f(first_row, len, &block)`.
    /// When `col_sum` is given, each column's sum over the rows is added to it. `AVX2`
    /// picks the block kernel; callers pass the answer of [`Prob::avx2_available`].
    #[inline(always)]
    pub(crate) fn scan_rows<const ENTROPY: bool, const AVX2: bool, F: FnMut(usize, usize, &BlockOut<T>)>(
        &self,
        start: usize,
        end: usize,
        mut col_sum: Option<&mut [f64]>,
        mut f: F,
    ) {
        let c = self.c;
        let mut tmp: Vec<T> = Vec::new();
        let mut r = start;
        while r < end {
            let len = LANES.min(end - r);
            let rows: &[T] = match self.rows {
                Rows::Contiguous(s) if len == LANES => &s[r * c..(r + LANES) * c],
                _ => {
                    if tmp.is_empty() {
                        tmp = vec![T::ZERO; LANES * c];
                    }
                    self.copy_block(r, len, &mut tmp);
                    &tmp
                }
            };
            let mut out = BlockOut::<T>::default();
            T::scan_block::<ENTROPY, AVX2>(rows, c, &mut out, col_sum.as_deref_mut());
            f(r, len, &out);
            r += len;
        }
    }

    /// Copy rows `r0 .. r0 + len` into row-major `tmp`, zero-filling missing rows.
    fn copy_block(&self, r0: usize, len: usize, tmp: &mut [T]) {
        let c = self.c;
        match self.rows {
            Rows::Contiguous(s) => tmp[..len * c].copy_from_slice(&s[r0 * c..(r0 + len) * c]),
            Rows::Strided(v) => {
                for l in 0..len {
                    for (j, &x) in v.row(r0 + l).iter().enumerate() {
                        tmp[l * c + j] = x;
                    }
                }
            }
        }
        tmp[len * c..].fill(T::ZERO);
    }

    /// Locate and describe the first invalid value of row `r`.
    pub fn describe_bad_row(&self, r: usize) -> KernelError {
        for j in 0..self.c {
            let f = self.get(r, j).to_f64();
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
        KernelError::Shape(format!("row {r} was flagged invalid but holds valid values"))
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
                format!("must be one of 'confidence', 'margin', 'entropy'; got '{other}'"),
            )),
        }
    }

    #[inline(always)]
    pub fn of<T: Prob>(self, out: &BlockOut<T>, l: usize) -> T {
        match self {
            Score::Confidence => out.top[l],
            Score::Margin => out.top[l] - out.second[l],
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

/// The lanes of a block of `len` rows starting at `r0` that `exclude` leaves in, as a bit
/// mask (bit `l` for row `r0 + l`).
#[inline(always)]
pub(crate) fn kept_lanes(exclude: Option<&[bool]>, r0: usize, len: usize) -> u32 {
    let mut keep: u32 = (1u32 << len) - 1;
    if let Some(ex) = exclude {
        for (l, &x) in ex[r0..r0 + len].iter().enumerate() {
            keep &= !((x as u32) << l);
        }
    }
    keep
}
