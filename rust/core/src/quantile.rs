//! `quantile`: the exact q-quantile of row confidence, over all rows or per predicted class,
//! with numpy's default ("linear") interpolation.

use crate::error::{param, Result};
use crate::float::Prob;
use crate::scan::Matrix;
use crate::threads::parallel_map;

/// numpy's `linear` quantile of `v` (which is reordered). NaN for an empty slice.
pub fn quantile_of(v: &mut [f64], q: f64) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = q * (n - 1) as f64;
    let lo = (h.floor() as usize).min(n - 1);
    let t = h - lo as f64;
    let (_, a, rest) = v.select_nth_unstable_by(lo, |x, y| x.total_cmp(y));
    let a = *a;
    if lo + 1 >= n || t == 0.0 {
        return a;
    }
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    // numpy's _lerp: exact at both ends, monotone in t
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Confidence (and, if asked, argmax) of every row.
fn confidences<T: Prob, const AVX2: bool>(m: &Matrix<T>, with_labels: bool) -> Result<(Vec<f64>, Vec<u32>)> {
    let block_rows = m.chunk_rows();
    let nchunks = m.n.div_ceil(block_rows);
    let parts: Vec<(Vec<f64>, Vec<u32>, Option<usize>)> = parallel_map((0..nchunks).collect(), |ci| {
                let start = ci * block_rows;
                let end = (start + block_rows).min(m.n);
                let mut conf = Vec::with_capacity(end - start);
                let mut labels = Vec::with_capacity(if with_labels { end - start } else { 0 });
                let mut bad = None;
                m.scan_rows::<false, AVX2, _>(start, end, None, |r0, len, out| {
                    conf.extend(out.top[..len].iter().map(|v| v.to_f64()));
                    if with_labels {
                        labels.extend_from_slice(&out.label[..len]);
                    }
                    if out.bad != 0 && bad.is_none() {
                        bad = Some(r0 + out.bad.trailing_zeros() as usize);
                    }
                });
                (conf, labels, bad)
    })?;
    if let Some(r) = parts.iter().find_map(|p| p.2) {
        return Err(m.describe_bad_row(r));
    }
    let mut conf = crate::alloc::zeroed(m.n, 0.0f64);
    let mut labels = crate::alloc::zeroed(if with_labels { m.n } else { 0 }, 0u32);
    let mut at = 0;
    for (c, l, _) in parts {
        conf[at..at + c.len()].copy_from_slice(&c);
        if with_labels {
            labels[at..at + l.len()].copy_from_slice(&l);
        }
        at += c.len();
    }
    Ok((conf, labels))
}

/// The q-quantile of confidence: one value, or one per predicted class (NaN for a class
/// that no row predicts).
pub fn quantile<T: Prob>(m: &Matrix<T>, q: f64, per_class: bool) -> Result<Vec<f64>> {
    if !(0.0..=1.0).contains(&q) {
        return Err(param("q", format!("must be within [0, 1], got {q}")));
    }
    let (mut conf, labels) = if T::avx2_available() {
        confidences::<T, true>(m, per_class)?
    } else {
        confidences::<T, false>(m, per_class)?
    };
    if !per_class {
        return Ok(vec![quantile_of(&mut conf, q)]);
    }
    let mut groups: Vec<Vec<f64>> = vec![Vec::new(); m.c];
    for (v, l) in conf.into_iter().zip(labels) {
        groups[l as usize].push(v);
    }
    Ok(groups.iter_mut().map(|g| quantile_of(g, q)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_linear() {
        // np.quantile([1, 2, 3, 4], [0, .25, .5, .9, 1]) = [1, 1.75, 2.5, 3.7, 4]
        for (q, want) in [(0.0, 1.0), (0.25, 1.75), (0.5, 2.5), (0.9, 3.7), (1.0, 4.0)] {
            let mut v = vec![4.0, 2.0, 1.0, 3.0];
            assert!((quantile_of(&mut v, q) - want).abs() < 1e-12, "{q}");
        }
        assert!(quantile_of(&mut [], 0.5).is_nan());
        assert_eq!(quantile_of(&mut [0.3], 0.7), 0.3);
    }
}
