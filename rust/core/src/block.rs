//! The block kernel: scan 8 consecutive rows (row-major, `8 * c` values) at once.
//!
//! Per row it computes the top value and its column (lowest column on ties), the second
//! largest value, whether any value is NaN / infinite / outside [0, 1], optionally
//! `sum p ln p`, and adds the column sums of the 8 rows to `col_sum`.
//!
//! There are two implementations with *identical* arithmetic (same operations in the same
//! order, no fused multiply-add), so results are bitwise the same whichever one runs:
//! a portable one, and an AVX2 one for f32 chosen at run time, which transposes 8x8 tiles
//! in registers so that 8 rows advance together, branch-free.

use crate::float::Prob;

pub const LANES: usize = 8;

/// Per-lane results of scanning one block of `LANES` rows.
#[derive(Debug, Clone, Copy)]
pub struct BlockOut<T: Prob> {
    pub label: [u32; LANES],
    pub top: [T; LANES],
    pub second: [T; LANES],
    /// `sum_j p ln p` (not negated); only filled when entropy is requested.
    pub xlogx: [T; LANES],
    /// one bit per lane: the row holds an invalid value
    pub bad: u32,
}

impl<T: Prob> Default for BlockOut<T> {
    fn default() -> Self {
        BlockOut {
            label: [0; LANES],
            top: [T::NEG_INF; LANES],
            second: [T::ZERO; LANES],
            xlogx: [T::ZERO; LANES],
            bad: 0,
        }
    }
}

/// Portable block scan. `rows` holds exactly `LANES * c` values.
#[inline(always)]
pub fn scan_generic<T: Prob, const ENTROPY: bool>(
    rows: &[T],
    c: usize,
    out: &mut BlockOut<T>,
    col_sum: Option<&mut [f64]>,
) {
    debug_assert_eq!(rows.len(), LANES * c);
    for l in 0..LANES {
        let row = &rows[l * c..(l + 1) * c];
        let mut top = T::NEG_INF;
        let mut second = T::ZERO;
        let mut idx = 0u32;
        let mut bad = false;
        let mut ent = T::ZERO;
        for (j, &v) in row.iter().enumerate() {
            // negated comparisons on purpose: NaN fails both and is flagged
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let outside = !(v >= T::ZERO) | !(v <= T::ONE);
            bad |= outside;
            let gt = v > top;
            second = second.max_of(v.min_of(top));
            if gt {
                top = v;
                idx = j as u32;
            }
            if ENTROPY {
                ent = ent + v.xlogx();
            }
        }
        out.top[l] = top;
        out.second[l] = second;
        out.label[l] = idx;
        out.xlogx[l] = ent;
        if bad {
            out.bad |= 1 << l;
        }
    }
    if let Some(sums) = col_sum {
        // each column: a fixed pairwise tree over the 8 rows in T, then added in f64
        // (the same association as the AVX2 path)
        for (j, sum) in sums.iter_mut().enumerate().take(c) {
            let v = |l: usize| rows[l * c + j];
            let s = ((v(0) + v(1)) + (v(2) + v(3))) + ((v(4) + v(5)) + (v(6) + v(7)));
            *sum += s.to_f64();
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    use super::{BlockOut, LANES};
    use std::arch::x86_64::*;

    #[inline]
    pub fn available() -> bool {
        is_x86_feature_detected!("avx2")
    }

    #[inline(always)]
    unsafe fn transpose8(r: &mut [__m256; 8]) {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        r[0] = _mm256_permute2f128_ps::<0x20>(u0, u4);
        r[1] = _mm256_permute2f128_ps::<0x20>(u1, u5);
        r[2] = _mm256_permute2f128_ps::<0x20>(u2, u6);
        r[3] = _mm256_permute2f128_ps::<0x20>(u3, u7);
        r[4] = _mm256_permute2f128_ps::<0x31>(u0, u4);
        r[5] = _mm256_permute2f128_ps::<0x31>(u1, u5);
        r[6] = _mm256_permute2f128_ps::<0x31>(u2, u6);
        r[7] = _mm256_permute2f128_ps::<0x31>(u3, u7);
    }

    /// `v * ln(v)`, the same operations as `<f32 as Prob>::xlogx`.
    #[inline(always)]
    unsafe fn xlogx(v: __m256) -> __m256 {
        let bits = _mm256_castps_si256(v);
        let adj = _mm256_sub_epi32(bits, _mm256_set1_epi32(0x3f35_04f3));
        let e = _mm256_srai_epi32::<23>(adj);
        let m = _mm256_castsi256_ps(_mm256_sub_epi32(bits, _mm256_slli_epi32::<23>(e)));
        let one = _mm256_set1_ps(1.0);
        let s = _mm256_div_ps(_mm256_sub_ps(m, one), _mm256_add_ps(m, one));
        let s2 = _mm256_mul_ps(s, s);
        let mut poly = _mm256_set1_ps(1.0 / 9.0);
        poly = _mm256_add_ps(_mm256_set1_ps(1.0 / 7.0), _mm256_mul_ps(s2, poly));
        poly = _mm256_add_ps(_mm256_set1_ps(1.0 / 5.0), _mm256_mul_ps(s2, poly));
        poly = _mm256_add_ps(_mm256_set1_ps(1.0 / 3.0), _mm256_mul_ps(s2, poly));
        poly = _mm256_add_ps(one, _mm256_mul_ps(s2, poly));
        let ln = _mm256_add_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(std::f32::consts::LN_2)),
            _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(2.0), s), poly),
        );
        _mm256_mul_ps(v, ln)
    }

    #[inline(always)]
    unsafe fn tree_sum(r: &[__m256; 8]) -> __m256 {
        _mm256_add_ps(
            _mm256_add_ps(_mm256_add_ps(r[0], r[1]), _mm256_add_ps(r[2], r[3])),
            _mm256_add_ps(_mm256_add_ps(r[4], r[5]), _mm256_add_ps(r[6], r[7])),
        )
    }

    /// Add the column sums of a full tile (8 rows x 8 columns) to `dst[0..8]` in f64.
    #[inline(always)]
    unsafe fn add_sums_full(r: &[__m256; 8], dst: *mut f64) {
        let tree = tree_sum(r);
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(tree));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(tree));
        _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), lo));
        _mm256_storeu_pd(dst.add(4), _mm256_add_pd(_mm256_loadu_pd(dst.add(4)), hi));
    }

    struct State {
        top: __m256,
        second: __m256,
        idx: __m256i,
        /// the column being scanned, in every lane
        j: __m256i,
        bad: __m256,
        ent: __m256,
    }

    #[inline(always)]
    unsafe fn step<const ENTROPY: bool>(st: &mut State, v: __m256) {
        // v < 0, or NaN (unordered); values above 1 show up in the final maximum
        st.bad = _mm256_or_ps(st.bad, _mm256_cmp_ps::<_CMP_NGE_UQ>(v, _mm256_setzero_ps()));
        let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(v, st.top);
        // min_ps(a, b) = a < b ? a : b and max_ps(a, b) = a > b ? a : b: exactly the
        // portable path's min_of / max_of
        st.second = _mm256_max_ps(_mm256_min_ps(st.top, v), st.second);
        st.top = _mm256_blendv_ps(st.top, v, gt);
        st.idx = _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(st.idx),
            _mm256_castsi256_ps(st.j),
            gt,
        ));
        st.j = _mm256_add_epi32(st.j, _mm256_set1_epi32(1));
        if ENTROPY {
            st.ent = _mm256_add_ps(st.ent, xlogx(v));
        }
    }

    /// AVX2 block scan of 8 f32 rows. `rows` holds exactly `8 * c` values.
    ///
    /// # Safety
    /// The CPU must support AVX2 (check [`available`]).
    #[target_feature(enable = "avx2")]
    pub unsafe fn scan_f32<const ENTROPY: bool>(
        rows: &[f32],
        c: usize,
        out: &mut BlockOut<f32>,
        col_sum: Option<&mut [f64]>,
    ) {
        assert_eq!(rows.len(), LANES * c);
        let p = rows.as_ptr();
        let mut st = State {
            top: _mm256_set1_ps(f32::NEG_INFINITY),
            second: _mm256_setzero_ps(),
            idx: _mm256_setzero_si256(),
            j: _mm256_setzero_si256(),
            bad: _mm256_setzero_ps(),
            ent: _mm256_setzero_ps(),
        };
        let mut sums = col_sum;
        // Tiles of 8 columns. When c % 8 != 0 the last tile is the window [c - 8, c),
        // which overlaps the previous tile: only its new columns are scanned. For c < 8 a
        // masked load reads only each row's c values.
        let full = c / 8 * 8;
        let mut j0 = 0;
        while j0 < full {
            let mut r = [_mm256_setzero_ps(); 8];
            for (l, reg) in r.iter_mut().enumerate() {
                *reg = _mm256_loadu_ps(p.add(l * c + j0));
            }
            if let Some(s) = sums.as_deref_mut() {
                add_sums_full(&r, s.as_mut_ptr().add(j0));
            }
            transpose8(&mut r);
            for &v in r.iter() {
                step::<ENTROPY>(&mut st, v);
            }
            j0 += 8;
        }
        if full < c {
            let (start, skip) = if c >= 8 { (c - 8, 8 - (c - full)) } else { (0, 0) };
            let width = if c >= 8 { 8 } else { c };
            let mut r = [_mm256_setzero_ps(); 8];
            if c >= 8 {
                for (l, reg) in r.iter_mut().enumerate() {
                    *reg = _mm256_loadu_ps(p.add(l * c + start));
                }
            } else {
                let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(c as i32), lane);
                for (l, reg) in r.iter_mut().enumerate() {
                    *reg = _mm256_maskload_ps(p.add(l * c), mask);
                }
            }
            if let Some(s) = sums.as_deref_mut() {
                let mut t = [0.0f32; 8];
                _mm256_storeu_ps(t.as_mut_ptr(), tree_sum(&r));
                for jj in skip..width {
                    s[start + jj] += t[jj] as f64;
                }
            }
            transpose8(&mut r);
            for &v in &r[skip..width] {
                step::<ENTROPY>(&mut st, v);
            }
        }
        _mm256_storeu_ps(out.top.as_mut_ptr(), st.top);
        _mm256_storeu_ps(out.second.as_mut_ptr(), st.second);
        _mm256_storeu_si256(out.label.as_mut_ptr() as *mut __m256i, st.idx);
        if ENTROPY {
            _mm256_storeu_ps(out.xlogx.as_mut_ptr(), st.ent);
        }
        let above = _mm256_cmp_ps::<_CMP_GT_OQ>(st.top, _mm256_set1_ps(1.0));
        out.bad = _mm256_movemask_ps(_mm256_or_ps(st.bad, above)) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(c: usize, seed: u64) -> Vec<f32> {
        let mut x = seed;
        (0..LANES * c)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                match (x >> 60) % 4 {
                    0 => 0.0,
                    1 => 0.5,
                    _ => (x >> 40) as f32 / (1u64 << 24) as f32,
                }
            })
            .collect()
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_portable_paths_are_bitwise_identical() {
        if !avx2::available() {
            return;
        }
        for c in [1, 2, 7, 8, 9, 10, 16, 23, 100] {
            for seed in 0..20 {
                let mut r = rows(c, seed);
                if seed == 3 {
                    r[5] = f32::NAN;
                }
                if seed == 4 {
                    r[c * 3] = 1.5;
                }
                let mut a = BlockOut::<f32>::default();
                let mut b = BlockOut::<f32>::default();
                let mut sa = vec![0.25f64; c];
                let mut sb = sa.clone();
                scan_generic::<f32, true>(&r, c, &mut a, Some(&mut sa));
                unsafe { avx2::scan_f32::<true>(&r, c, &mut b, Some(&mut sb)) };
                assert_eq!(a.label, b.label, "c={c} seed={seed}");
                assert_eq!(a.bad, b.bad);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a.top), bits(&b.top));
                assert_eq!(bits(&a.second), bits(&b.second));
                assert_eq!(bits(&a.xlogx), bits(&b.xlogx), "c={c} seed={seed}");
                let bits64 = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits64(&sa), bits64(&sb));
            }
        }
    }
}
