//! The element types the kernels accept: `f32` and `f64` probabilities.

use crate::block::{self, BlockOut};

/// A probability element. Implemented for `f32` and `f64`.
pub trait Prob:
    Copy
    + Send
    + Sync
    + PartialOrd
    + PartialEq
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + 'static
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INF: Self;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// `p * ln(p)`, with `0 * ln(0) = 0`. Branch-free and vectorizable; accurate to a few ulp
    /// of the type for p in [0, 1].
    fn xlogx(self) -> Self;
    /// `if other > self { other } else { self }` (the semantics of `vmaxps(other, self)`).
    #[inline(always)]
    fn max_of(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
    /// `if other < self { other } else { self }` (the semantics of `vminps(other, self)`).
    #[inline(always)]
    fn min_of(self, other: Self) -> Self {
        if other < self {
            other
        } else {
            self
        }
    }

    /// Whether this CPU can run the AVX2 block kernel for this type. Checked once per
    /// kernel call, which then passes the answer down as `AVX2`.
    #[inline]
    fn avx2_available() -> bool {
        false
    }

    /// Scan one block of `LANES` row-major rows (see [`crate::block`]), with the AVX2
    /// kernel when `AVX2` (only ever true after [`Prob::avx2_available`] said so).
    #[inline(always)]
    fn scan_block<const ENTROPY: bool, const AVX2: bool>(
        rows: &[Self],
        c: usize,
        out: &mut BlockOut<Self>,
        col_sum: Option<&mut [f64]>,
    ) {
        block::scan_generic::<Self, ENTROPY>(rows, c, out, col_sum)
    }
}

// ln(m) for m in [sqrt(1/2), sqrt(2)) via s = (m-1)/(m+1), ln m = 2 atanh(s)
// = 2 (s + s^3/3 + s^5/5 + ...). |s| <= 0.1716, so s^2 <= 0.02944.

impl Prob for f32 {
    #[inline]
    fn avx2_available() -> bool {
        #[cfg(target_arch = "x86_64")]
        return block::avx2::available();
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    #[inline(always)]
    fn scan_block<const ENTROPY: bool, const AVX2: bool>(
        rows: &[Self],
        c: usize,
        out: &mut BlockOut<Self>,
        col_sum: Option<&mut [f64]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: `AVX2` is true only when the kernel call checked `avx2_available()`.
            unsafe { block::avx2::scan_f32::<ENTROPY>(rows, c, out, col_sum) };
            return;
        }
        block::scan_generic::<Self, ENTROPY>(rows, c, out, col_sum)
    }

    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f32::NEG_INFINITY;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn xlogx(self) -> Self {
        // Decompose p = 2^e * m with m in [sqrt(1/2), sqrt(2)). p = 0 gives a finite
        // (wrong) logarithm that is multiplied by 0, so the result is exactly 0.
        let bits = self.to_bits() as i32;
        // shift the mantissa range so that m lands in [sqrt(1/2), sqrt(2))
        let adj = bits.wrapping_sub(0x3f35_04f3); // bits of sqrt(1/2)
        let e = adj >> 23;
        let m = f32::from_bits((bits.wrapping_sub(e << 23)) as u32);
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let poly = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0))));
        let ln = (e as f32) * std::f32::consts::LN_2 + 2.0 * s * poly;
        self * ln
    }
}

impl Prob for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f64::NEG_INFINITY;
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline(always)]
    fn xlogx(self) -> Self {
        let bits = self.to_bits() as i64;
        let adj = bits.wrapping_sub(0x3fe6_a09e_667f_3bcd); // bits of sqrt(1/2)
        let e = adj >> 52;
        let m = f64::from_bits((bits.wrapping_sub(e << 52)) as u64);
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let mut poly = 1.0 / 21.0;
        poly = 1.0 / 19.0 + s2 * poly;
        poly = 1.0 / 17.0 + s2 * poly;
        poly = 1.0 / 15.0 + s2 * poly;
        poly = 1.0 / 13.0 + s2 * poly;
        poly = 1.0 / 11.0 + s2 * poly;
        poly = 1.0 / 9.0 + s2 * poly;
        poly = 1.0 / 7.0 + s2 * poly;
        poly = 1.0 / 5.0 + s2 * poly;
        poly = 1.0 / 3.0 + s2 * poly;
        poly = 1.0 + s2 * poly;
        let ln = (e as f64) * std::f64::consts::LN_2 + 2.0 * s * poly;
        self * ln
    }
}

#[cfg(test)]
mod tests {
    use super::Prob;

    #[test]
    fn xlogx_f32_matches_std() {
        assert_eq!(0.0f32.xlogx(), 0.0);
        assert_eq!(1.0f32.xlogx(), 0.0);
        let mut worst = 0.0f64;
        for i in 1..=100_000 {
            let p = i as f32 / 100_000.0;
            let want = (p as f64) * (p as f64).ln();
            let got = p.xlogx() as f64;
            worst = worst.max((got - want).abs());
        }
        assert!(worst < 2e-7, "worst abs error {worst}");
        // subnormal and tiny values stay finite and near zero
        for p in [f32::MIN_POSITIVE, 1e-30, 1e-45] {
            let v = p.xlogx();
            assert!(v.is_finite() && v <= 0.0 && v > -1e-20, "{p}: {v}");
        }
    }

    #[test]
    fn xlogx_f64_matches_std() {
        assert_eq!(0.0f64.xlogx(), 0.0);
        assert_eq!(1.0f64.xlogx(), 0.0);
        let mut worst = 0.0f64;
        for i in 1..=100_000 {
            let p = i as f64 / 100_000.0;
            let want = p * p.ln();
            worst = worst.max((p.xlogx() - want).abs());
        }
        assert!(worst < 1e-15, "worst abs error {worst}");
    }
}
