//! Ranking keys: a candidate row packed with an exact, order-preserving integer key.
//!
//! "Better" means a larger score when `largest`, a smaller one otherwise; ties go to the
//! lower row index. Keys are built from the score's bits, so ranking is exact and does not
//! depend on how rows were split across threads.

/// Most rows and classes a selection can address (row and class share one 64-bit tag).
pub const MAX_ROWS: u64 = 1 << 40;
pub const MAX_CLASSES: usize = 1 << 24;

/// A selected row, packed in 16 bytes: its ranking key (smaller is better) and a tag
/// holding the row index (high 40 bits) and the predicted class (low 24 bits). Ordering by
/// `(key, tag)` ranks by score, then by the lower row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Candidate {
    pub key: u64,
    pub tag: u64,
}

impl Candidate {
    #[inline(always)]
    pub fn new(key: u64, row: u64, label: u32) -> Self {
        Candidate { key, tag: (row << 24) | label as u64 }
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
    pub(crate) fn rank(&self) -> (u64, u64) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
