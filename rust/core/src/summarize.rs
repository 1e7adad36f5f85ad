//! `summarize`: argmax, confidence, margin, optional entropy and class statistics of every
//! row, in one pass.

use crate::alloc::zeroed;
use crate::error::Result;
use crate::float::Prob;
use crate::scan::{Matrix, LANES};
use crate::threads::parallel_map;

#[derive(Debug, Clone, PartialEq)]
pub struct Summary<T> {
    /// argmax of each row; the lowest column wins ties
    pub label: Vec<i64>,
    /// the row maximum
    pub confidence: Vec<T>,
    /// maximum minus the second-largest value (the maximum itself when C == 1)
    pub margin: Vec<T>,
    /// -sum p ln p with 0 ln 0 = 0, when asked for
    pub entropy: Option<Vec<T>>,
    /// number of rows whose argmax is each class
    pub class_counts: Vec<i64>,
    /// mean of each column (NaN when there are no rows)
    pub class_mean: Vec<f64>,
}

struct ChunkStats {
    sums: Vec<f64>,
    counts: Vec<i64>,
    first_bad: Option<usize>,
}

/// Summarize every row of `m`: see the Python docstring of `pseudolabel.kernels.summarize`.
pub fn summarize<T: Prob>(m: &Matrix<T>, entropy: bool) -> Result<Summary<T>> {
    if T::avx2_available() {
        summarize_with::<T, true>(m, entropy)
    } else {
        summarize_with::<T, false>(m, entropy)
    }
}

fn summarize_with<T: Prob, const AVX2: bool>(m: &Matrix<T>, entropy: bool) -> Result<Summary<T>> {
    let (n, c) = (m.n, m.c);
    // zeroed allocations come straight from the OS and are touched first by the workers
    let mut label = zeroed(n, 0i64);
    let mut confidence = zeroed(n, T::ZERO);
    let mut margin = zeroed(n, T::ZERO);
    let mut ent = if entropy { zeroed(n, T::ZERO) } else { Vec::new() };
    let block_rows = m.chunk_rows();

    let mut jobs = Vec::with_capacity(n.div_ceil(block_rows));
    {
        let mut ent_chunks = ent.chunks_mut(block_rows);
        for (i, ((l, cf), mg)) in label
            .chunks_mut(block_rows)
            .zip(confidence.chunks_mut(block_rows))
            .zip(margin.chunks_mut(block_rows))
            .enumerate()
        {
            let e = if entropy { ent_chunks.next() } else { None };
            jobs.push((i * block_rows, l, cf, mg, e));
        }
    }
    let stats: Vec<ChunkStats> = parallel_map(jobs, |(start, l, cf, mg, e)| {
        if entropy {
            chunk::<T, true, AVX2>(m, start, l, cf, mg, e)
        } else {
            chunk::<T, false, AVX2>(m, start, l, cf, mg, e)
        }
    })?;

    let mut sums = vec![0.0f64; c];
    let mut counts = vec![0i64; c];
    let mut first_bad: Option<usize> = None;
    for s in &stats {
        // fixed order: chunk 0, 1, 2, ... whatever the thread count
        for j in 0..c {
            sums[j] += s.sums[j];
            counts[j] += s.counts[j];
        }
        if first_bad.is_none() {
            first_bad = s.first_bad;
        }
    }
    if let Some(r) = first_bad {
        return Err(m.describe_bad_row(r));
    }
    let class_mean = sums.iter().map(|&s| if n == 0 { f64::NAN } else { s / n as f64 }).collect();
    Ok(Summary {
        label,
        confidence,
        margin,
        entropy: if entropy { Some(ent) } else { None },
        class_counts: counts,
        class_mean,
    })
}

#[inline(always)]
fn chunk<T: Prob, const ENTROPY: bool, const AVX2: bool>(
    m: &Matrix<T>,
    start: usize,
    label: &mut [i64],
    conf: &mut [T],
    margin: &mut [T],
    mut ent: Option<&mut [T]>,
) -> ChunkStats {
    let c = m.c;
    let len = label.len();
    let mut sums = vec![0.0f64; c];
    let mut counts = vec![0i64; c];
    let mut first_bad = None;
    m.scan_rows::<ENTROPY, AVX2, _>(start, start + len, Some(&mut sums), |r0, bl, out| {
        let r = r0 - start;
        if bl == LANES {
            let (lab, cf, mg) = (&mut label[r..r + LANES], &mut conf[r..r + LANES], &mut margin[r..r + LANES]);
            for l in 0..LANES {
                lab[l] = out.label[l] as i64;
                cf[l] = out.top[l];
                mg[l] = out.top[l] - out.second[l];
            }
        } else {
            for l in 0..bl {
                label[r + l] = out.label[l] as i64;
                conf[r + l] = out.top[l];
                margin[r + l] = out.top[l] - out.second[l];
            }
        }
        for &lab in &out.label[..bl] {
            counts[lab as usize] += 1;
        }
        if ENTROPY {
            if let Some(e) = ent.as_deref_mut() {
                for l in 0..bl {
                    e[r + l] = T::ZERO - out.xlogx[l];
                }
            }
        }
        if out.bad != 0 && first_bad.is_none() {
            first_bad = Some(r0 + out.bad.trailing_zeros() as usize);
        }
    });
    ChunkStats { sums, counts, first_bad }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{KernelError, ValueProblem};
    use ndarray::{array, Array2, ShapeBuilder};

    #[test]
    fn basic_row_statistics() {
        let p = array![[0.1f64, 0.7, 0.2], [0.4, 0.2, 0.4], [1.0, 0.0, 0.0]];
        let s = summarize(&Matrix::new(p.view()).unwrap(), true).unwrap();
        assert_eq!(s.label, vec![1, 0, 0]);
        assert_eq!(s.confidence, vec![0.7, 0.4, 1.0]);
        assert!((s.margin[0] - 0.5).abs() < 1e-12);
        assert_eq!(s.margin[1], 0.0); // tie
        assert_eq!(s.margin[2], 1.0);
        let e = s.entropy.unwrap();
        let want0: f64 = -[0.1f64, 0.7, 0.2].iter().map(|p| p * p.ln()).sum::<f64>();
        assert!((e[0] - want0).abs() < 1e-14);
        assert_eq!(e[2], 0.0);
        assert_eq!(s.class_counts, vec![2, 1, 0]);
        assert!((s.class_mean[0] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn single_column_margin_is_the_max() {
        let p = array![[0.3f32], [1.0]];
        let s = summarize(&Matrix::new(p.view()).unwrap(), false).unwrap();
        assert_eq!(s.margin, vec![0.3, 1.0]);
        assert!(s.entropy.is_none());
    }

    #[test]
    fn empty_input_gives_empty_output() {
        let p = Array2::<f32>::zeros((0, 4));
        let s = summarize(&Matrix::new(p.view()).unwrap(), true).unwrap();
        assert!(s.label.is_empty());
        assert_eq!(s.class_counts, vec![0; 4]);
        assert!(s.class_mean.iter().all(|m| m.is_nan()));
    }

    #[test]
    fn first_bad_row_is_reported() {
        let mut p = Array2::<f64>::from_elem((5000, 3), 1.0 / 3.0);
        p[[4000, 1]] = 1.5;
        p[[3000, 2]] = f64::NAN;
        match summarize(&Matrix::new(p.view()).unwrap(), false).unwrap_err() {
            KernelError::InvalidProbability { row, col, problem, .. } => {
                assert_eq!((row, col, problem), (3000, 2, ValueProblem::NaN))
            }
            e => panic!("{e:?}"),
        }
        p[[3000, 2]] = -0.1;
        match summarize(&Matrix::new(p.view()).unwrap(), false).unwrap_err() {
            KernelError::InvalidProbability { row, col, problem, .. } => {
                assert_eq!((row, col, problem), (3000, 2, ValueProblem::OutOfRange))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn layouts_agree() {
        let mut x: u64 = 7;
        let c = 7;
        let n = 1000;
        let mut data = vec![0.0f32; n * c];
        for v in data.iter_mut() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            *v = ((x >> 40) % 5) as f32 / 4.0;
        }
        let a = Array2::from_shape_vec((n, c), data).unwrap();
        let mut fo = Array2::<f32>::zeros((n, c).f());
        fo.assign(&a);
        let sa = summarize(&Matrix::new(a.view()).unwrap(), true).unwrap();
        let sf = summarize(&Matrix::new(fo.view()).unwrap(), true).unwrap();
        assert_eq!(sa, sf);
        let strided = a.slice(ndarray::s![..;3, ..]);
        let owned = strided.to_owned();
        let ss = summarize(&Matrix::new(strided).unwrap(), true).unwrap();
        let so = summarize(&Matrix::new(owned.view()).unwrap(), true).unwrap();
        assert_eq!(ss, so);
    }
}
