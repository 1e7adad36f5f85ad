//! Keep-all selection (a threshold, or no cut at all) without candidate buffers.
//!
//! Confidence and margin of valid rows lie in [0, 1], so before the scan the range of
//! ranking keys a kept row can have is known. When the key (relative to the best possible
//! one, with the bits an `f32` score never sets dropped), the row index and the label fit
//! in 64 bits together, every kept row becomes one packed `u64`:
//! `key << (row_bits + label_bits) | row << label_bits | label`. The scan writes them in
//! row order (each part of the rows from its own first row on, so no part waits for
//! another); a stable, parallel LSD radix sort over the key bits only then orders them best
//! first (ties to the lower row, by stability), and its last pass decodes every value
//! straight into the output arrays. The order is a total order, so the result does not
//! depend on the thread count. Rows of other shapes (f64 scores with a wide key range,
//! entropy, top-k) take the general path in `select`.

use crate::float::Prob;
use crate::ranking::{key_score, score_key};
use crate::scan::{kept_lanes, Matrix, Score, LANES};
use crate::select::{SelectParams, Selection};
use crate::threads::{parallel_map, parts_for};

/// Scratch buffers kept between calls, so that repeated selections write into pages that
/// are already resident instead of asking the OS for hundreds of MB of fresh zeroed pages.
/// A call takes them (a concurrent call allocates its own) and puts them back when done.
static SCRATCH: std::sync::Mutex<(Vec<u64>, Vec<u64>)> = std::sync::Mutex::new((Vec::new(), Vec::new()));

/// Scratch buffers kept between calls are dropped past this many bytes in all (256 MiB:
/// 10M rows with half of them kept need 120 MB; a larger call frees its buffers at once).
const SCRATCH_KEEP_BYTES: usize = 1 << 28;

fn take_scratch() -> (Vec<u64>, Vec<u64>) {
    let mut s = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    (std::mem::take(&mut s.0), std::mem::take(&mut s.1))
}

fn put_scratch(mut a: Vec<u64>, mut b: Vec<u64>) {
    if (a.capacity() + b.capacity()) * 8 > SCRATCH_KEEP_BYTES {
        return;
    }
    a.clear();
    b.clear();
    let mut s = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    if s.0.capacity() + s.1.capacity() <= a.capacity() + b.capacity() {
        *s = (a, b);
    }
}

/// At most this many key bits per radix pass.
const MAX_DIGIT_BITS: u32 = 8;

/// A raw pointer shared by jobs that write disjoint slots.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: only used to write disjoint slots from parallel jobs (see each use).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    #[inline(always)]
    fn at(self, i: usize) -> *mut T {
        // SAFETY (for callers): `i` lies inside the allocation the pointer came from.
        unsafe { self.0.add(i) }
    }
}

fn bits_for(max: u64) -> u32 {
    64 - max.leading_zeros()
}

/// How kept rows are packed and sorted.
#[derive(Clone, Copy)]
struct Layout {
    /// key of the best score a kept row can have
    base: u64,
    /// low key bits every score of this type leaves constant (29 for f32)
    shift: u32,
    /// largest packed key (relative, shifted)
    max_rel: u64,
    label_bits: u32,
    row_bits: u32,
    key_bits: u32,
    largest: bool,
}

impl Layout {
    #[inline(always)]
    fn lo(&self) -> u32 {
        self.row_bits + self.label_bits
    }
    #[inline(always)]
    fn decode(&self, e: u64) -> (i64, i64, f64) {
        let row = (e >> self.label_bits) & ((1u64 << self.row_bits) - 1);
        let label = e & ((1u64 << self.label_bits) - 1);
        let rel = if self.key_bits == 0 { 0 } else { e >> self.lo() };
        let key = self.base.wrapping_add(rel << self.shift);
        (row as i64, label as i64, key_score(key, self.largest))
    }
}

/// The keep-all selection, or `None` when this path does not apply (the caller then takes
/// the general one). Parameters must have been checked, and `m.n > 0`.
pub(crate) fn select_keep_all<T: Prob, const AVX2: bool>(
    m: &Matrix<T>,
    p: &SelectParams,
    thresholds: Option<&[T]>,
) -> crate::Result<Option<Selection>> {
    if p.k.is_some() || p.per_class_k.is_some() || p.score == Score::Entropy {
        return Ok(None);
    }
    let shift = if std::mem::size_of::<T>() == 4 { 29 } else { 0 };
    // the scores a kept row can have: [0, 1], cut by the threshold(s) on the worse side
    let worst = match thresholds {
        None => {
            if p.largest {
                0.0
            } else {
                1.0
            }
        }
        Some(ts) => {
            let it = ts.iter().map(|t| t.to_f64().clamp(0.0, 1.0));
            if p.largest {
                it.fold(1.0, f64::min)
            } else {
                it.fold(0.0, f64::max)
            }
        }
    };
    let best = if p.largest { 1.0 } else { 0.0 };
    let base = score_key(best, p.largest);
    let top = score_key(worst, p.largest);
    let max_rel = (top - base) >> shift;
    let layout = Layout {
        base,
        shift,
        max_rel,
        label_bits: bits_for(m.c as u64 - 1),
        row_bits: bits_for(m.n as u64 - 1),
        key_bits: bits_for(max_rel),
        largest: p.largest,
    };
    if layout.key_bits + layout.row_bits + layout.label_bits > 64 {
        return Ok(None);
    }
    let passes = layout.key_bits.div_ceil(MAX_DIGIT_BITS);
    let width = if passes == 0 { 0 } else { layout.key_bits.div_ceil(passes) };

    let block_rows = m.chunk_rows();
    let n_blocks = m.n.div_ceil(block_rows);
    let n_parts = parts_for(n_blocks)?;
    let per_part = n_blocks.div_ceil(n_parts);

    // pass 1: scan, writing each part's kept rows from its first row on (its worst case)
    let (mut packed, mut other) = take_scratch();
    if packed.capacity() < m.n {
        packed = crate::alloc::with_capacity(m.n);
    }
    let buf = Shared(packed.as_mut_ptr());
    let scanned = parallel_map((0..n_parts).collect(), |part| {
        let start = (part * per_part * block_rows).min(m.n);
        let end = ((part + 1) * per_part * block_rows).min(m.n);
        scan_part::<T, AVX2>(m, p, thresholds, &layout, start, end, buf)
    })?;
    if let Some(r) = scanned.iter().filter_map(|s| s.bad).min() {
        return Err(m.describe_bad_row(r));
    }
    if scanned.iter().any(|s| s.out_of_range) {
        put_scratch(packed, other);
        return Ok(None); // a score outside the expected range: cannot happen for valid rows
    }
    let mut segs: Vec<(usize, usize)> = Vec::with_capacity(n_parts);
    for (part, s) in scanned.into_iter().enumerate() {
        segs.push(((part * per_part * block_rows).min(m.n), s.count));
    }
    let total: usize = segs.iter().map(|s| s.1).sum();

    let mut indices: Vec<i64> = crate::alloc::with_capacity(total);
    let mut labels: Vec<i64> = crate::alloc::with_capacity(total);
    let mut scores: Vec<f64> = crate::alloc::with_capacity(total);
    let outs = (Shared(indices.as_mut_ptr()), Shared(labels.as_mut_ptr()), Shared(scores.as_mut_ptr()));
    if passes == 0 {
        // every kept row has the same key: row order is the answer
        decode_segments(Shared(packed.as_mut_ptr()), &segs, &layout, outs)?;
    }

    // the radix passes, ping-ponging between `packed` and `other`; the last one decodes
    // every value straight into the outputs
    let mut src_is_packed = true;
    for pass in 0..passes {
        let last = pass + 1 == passes;
        if !last && other.capacity() < total {
            other = crate::alloc::with_capacity(total);
        }
        let (src, dst) = if src_is_packed {
            (Shared(packed.as_mut_ptr()), Shared(other.as_mut_ptr()))
        } else {
            (Shared(other.as_mut_ptr()), Shared(packed.as_mut_ptr()))
        };
        let shift = layout.lo() + pass * width;
        let mask = (1u64 << width) - 1;
        if pass > 0 {
            segs = even_segments(total, n_parts);
        }
        let hists = parallel_map(segs.clone(), |(s, len)| {
            let mut h = vec![0usize; 1 << width];
            // SAFETY: each segment holds initialized values.
            let v = unsafe { std::slice::from_raw_parts(src.at(s), len) };
            for &e in v {
                h[((e >> shift) & mask) as usize] += 1;
            }
            h
        })?;
        // offsets: digit-major, segment-minor, so the scatter is stable
        let mut offsets: Vec<Vec<usize>> = vec![vec![0; 1 << width]; segs.len()];
        let mut sum = 0;
        for d in 0..1usize << width {
            for (si, h) in hists.iter().enumerate() {
                offsets[si][d] = sum;
                sum += h[d];
            }
        }
        let jobs: Vec<((usize, usize), Vec<usize>)> = segs.iter().copied().zip(offsets).collect();
        let (oi, ol, os) = outs;
        parallel_map(jobs, |((s, len), mut off)| {
            // SAFETY: each segment holds initialized values; the offsets give every value
            // of every segment its own slot in `0 .. total` of `dst` (of the outputs in the
            // last pass), each written once.
            let v = unsafe { std::slice::from_raw_parts(src.at(s), len) };
            if last {
                for &e in v {
                    let d = ((e >> shift) & mask) as usize;
                    let (r, l, sc) = layout.decode(e);
                    unsafe {
                        oi.at(off[d]).write(r);
                        ol.at(off[d]).write(l);
                        os.at(off[d]).write(sc);
                    }
                    off[d] += 1;
                }
            } else {
                for &e in v {
                    let d = ((e >> shift) & mask) as usize;
                    unsafe { dst.at(off[d]).write(e) };
                    off[d] += 1;
                }
            }
        })?;
        src_is_packed = !src_is_packed;
    }
    // SAFETY: every slot in `0 .. total` was written above.
    unsafe {
        indices.set_len(total);
        labels.set_len(total);
        scores.set_len(total);
    }
    put_scratch(packed, other);
    Ok(Some(Selection { indices, labels, scores }))
}

/// Decode the values of `segs` (in order) into consecutive slots of the outputs.
fn decode_segments(
    src: Shared<u64>,
    segs: &[(usize, usize)],
    layout: &Layout,
    (oi, ol, os): (Shared<i64>, Shared<i64>, Shared<f64>),
) -> crate::Result<()> {
    let mut jobs = Vec::with_capacity(segs.len());
    let mut at = 0;
    for &(s, len) in segs {
        jobs.push((s, len, at));
        at += len;
    }
    parallel_map(jobs, |(s, len, at)| {
        // SAFETY: segments hold initialized values and map onto disjoint output ranges
        // that together cover the outputs.
        let v = unsafe { std::slice::from_raw_parts(src.at(s), len) };
        for (i, &e) in v.iter().enumerate() {
            let (r, l, sc) = layout.decode(e);
            unsafe {
                oi.at(at + i).write(r);
                ol.at(at + i).write(l);
                os.at(at + i).write(sc);
            }
        }
    })?;
    Ok(())
}

fn even_segments(total: usize, parts: usize) -> Vec<(usize, usize)> {
    let parts = parts.max(1);
    let each = total.div_ceil(parts).max(1);
    (0..total).step_by(each).map(|s| (s, each.min(total - s))).collect()
}

struct Scanned {
    count: usize,
    bad: Option<usize>,
    out_of_range: bool,
}

#[allow(clippy::too_many_arguments)]
fn scan_part<T: Prob, const AVX2: bool>(
    m: &Matrix<T>,
    p: &SelectParams,
    thr: Option<&[T]>,
    layout: &Layout,
    start: usize,
    end: usize,
    out: Shared<u64>,
) -> Scanned {
    // one threshold for every class (the usual case) needs no per-lane lookup
    let uniform = thr.and_then(|t| if t.iter().all(|&x| x == t[0]) { Some(t[0]) } else { None });
    let (base, shift, max_rel, lo, label_bits) = (layout.base, layout.shift, layout.max_rel, layout.lo(), layout.label_bits);
    let (largest, inclusive, score) = (p.largest, p.inclusive, p.score);
    let passes = |s: T, t: T| match (largest, inclusive) {
        (true, false) => s > t,
        (true, true) => s >= t,
        (false, false) => s < t,
        (false, true) => s <= t,
    };
    let mut count = 0usize;
    let mut bad = None;
    let mut out_of_range = false;
    m.scan_rows::<false, AVX2, _>(start, end, None, |r0, len, blk| {
        if bad.is_some() || out_of_range {
            return;
        }
        if blk.bad != 0 {
            bad = Some(r0 + blk.bad.trailing_zeros() as usize);
            return;
        }
        let mut keep = kept_lanes(p.exclude, r0, len);
        let mut scores = [T::ZERO; LANES];
        for (l, s) in scores.iter_mut().enumerate() {
            *s = score.of(blk, l);
        }
        if let Some(t) = uniform {
            let mut pass = 0u32;
            for (l, &s) in scores.iter().enumerate() {
                pass |= (passes(s, t) as u32) << l;
            }
            keep &= pass;
        } else if let Some(t) = thr {
            let mut pass = 0u32;
            for (l, &s) in scores.iter().enumerate() {
                pass |= (passes(s, t[blk.label[l] as usize]) as u32) << l;
            }
            keep &= pass;
        }
        // branch-free compaction: every lane is written at the next free slot, which only
        // a kept lane claims (slot `start + count` never passes row `r0 + l`)
        let mut oor = false;
        for l in 0..LANES {
            let rel = score_key(scores[l].to_f64(), largest).wrapping_sub(base) >> shift;
            let k = (keep >> l) & 1;
            oor |= (k != 0) & (rel > max_rel);
            let e = (rel << lo) | (((r0 + l) as u64) << label_bits) | blk.label[l] as u64;
            if l < len {
                // SAFETY: parts cover disjoint row ranges and `start + count <= r0 + l < end`,
                // inside the buffer's capacity of `m.n`.
                unsafe { out.at(start + count).write(e) };
            }
            count += k as usize;
        }
        out_of_range |= oor;
    });
    Scanned { count, bad, out_of_range }
}

#[cfg(test)]
mod tests {
    use crate::scan::{Matrix, Score};
    use crate::select::{select, select_candidates, SelectParams, Selection, Threshold};
    use ndarray::Array2;

    /// Rows with many ties (values on a coarse grid), normalized to sum to one.
    fn probs(n: usize, c: usize, grid: u64, seed: u64) -> Array2<f64> {
        let mut x = seed;
        let mut p = Array2::<f64>::zeros((n, c));
        for i in 0..n {
            let mut s = 0.0;
            for j in 0..c {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = ((x >> 33) % grid) as f64 + if j == (x as usize >> 7) % c { 3.0 * grid as f64 } else { 0.0 };
                p[[i, j]] = v;
                s += v;
            }
            for j in 0..c {
                p[[i, j]] /= s.max(1.0);
            }
        }
        p
    }

    fn general<T: crate::Prob>(m: &Matrix<T>, p: &SelectParams) -> Selection {
        Selection::from_candidates(&select_candidates(m, p, 0).unwrap(), p.largest)
    }

    fn check_all<T: crate::Prob>(m: &Matrix<T>, n: usize, c: usize) {
        let ex: Vec<bool> = (0..n).map(|i| i % 5 == 3).collect();
        for score in [Score::Confidence, Score::Margin] {
            for largest in [true, false] {
                for inclusive in [false, true] {
                    let thresholds = [
                        None,
                        Some(Threshold::Global(0.6)),
                        Some(Threshold::Global(-1.0)),
                        Some(Threshold::Global(2.0)),
                        Some(Threshold::Global(0.0)),
                        Some(Threshold::Global(1.0)),
                        Some(Threshold::PerClass((0..c).map(|j| 0.3 + 0.1 * j as f64).collect())),
                    ];
                    for t in thresholds {
                        for exclude in [None, Some(&ex[..])] {
                            let mut p = SelectParams::new(score);
                            p.largest = largest;
                            p.inclusive = inclusive;
                            p.threshold = t.clone();
                            p.exclude = exclude;
                            let want = general(m, &p);
                            let got = select(m, &p).unwrap();
                            assert!(got == want, "n={n} c={c} {score:?} largest={largest} inclusive={inclusive} t={t:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn keep_all_path_equals_the_general_one() {
        for (n, c, grid) in [(1usize, 1usize, 3u64), (7, 2, 2), (100_003, 3, 5), (70_000, 4, 1 << 20), (50_000, 1, 3)] {
            let p = probs(n, c, grid, n as u64);
            let m = Matrix::new(p.view()).unwrap();
            check_all(&m, n, c);
            let p32 = p.mapv(|v| v as f32);
            let m32 = Matrix::new(p32.view()).unwrap();
            check_all(&m32, n, c);
            // a strided layout goes through the same path
            let t = p32.t().to_owned();
            let tv = t.t();
            check_all(&Matrix::new(tv).unwrap(), n, c);
        }
    }

    #[test]
    fn thread_counts_give_identical_results() {
        let p = probs(300_000, 5, 1000, 9).mapv(|v| v as f32);
        let m = Matrix::new(p.view()).unwrap();
        let mut params = SelectParams::new(Score::Confidence);
        params.threshold = Some(Threshold::Global(0.5));
        let base = crate::threads::get_num_threads().unwrap();
        let mut got = Vec::new();
        for t in [1, 2, 3] {
            crate::threads::set_num_threads(t).unwrap();
            got.push(select(&m, &params).unwrap());
        }
        crate::threads::set_num_threads(base as i64).unwrap();
        assert!(got[0] == got[1] && got[1] == got[2]);
        assert!(got[0] == general(&m, &params));
        assert!(!got[0].indices.is_empty());
    }

    #[test]
    fn bad_rows_are_reported_as_before() {
        let mut p = probs(100_000, 3, 7, 1);
        p[[70_001, 1]] = f64::NAN;
        p[[90_000, 0]] = 1.5;
        let m = Matrix::new(p.view()).unwrap();
        let mut params = SelectParams::new(Score::Confidence);
        params.threshold = Some(Threshold::Global(0.5));
        let err = select(&m, &params).unwrap_err();
        assert!(
            matches!(err, crate::KernelError::InvalidProbability { row: 70_001, col: 1, .. }),
            "{err:?}"
        );
    }
}
