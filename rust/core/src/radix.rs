//! Sorting candidates best first: a stable radix sort for row-ordered chunks, and a plain
//! (parallel) sort for candidates in any order.

use rayon::prelude::*;

use crate::ranking::Candidate;

/// Concatenate per-chunk candidate lists, which hold rows in increasing order chunk after
/// chunk, and sort them best first, freeing each chunk's buffer once it has been moved.
pub(crate) fn sort_chunks(chunks: Vec<Vec<Candidate>>) -> Vec<Candidate> {
    let total: usize = chunks.iter().map(Vec::len).sum();
    if total <= 1 << 16 {
        let mut all: Vec<Candidate> = chunks.into_iter().flatten().collect();
        all.sort_unstable_by_key(Candidate::rank);
        return all;
    }
    radix_sort(chunks, total)
}

/// Sort candidates (in any order) best first.
pub fn sort_candidates(v: &mut [Candidate]) {
    if v.len() > 1 << 16 {
        v.par_sort_unstable_by_key(Candidate::rank);
    } else {
        v.sort_unstable_by_key(Candidate::rank);
    }
}

/// Stable LSD radix sort of candidates by key, 11 bits a pass, over only the key bits that
/// vary. The input arrives in row order, so stability breaks ties by the lower row. Each
/// pass streams into 2048 sequential outputs (friendly to caches and TLBs), and the first
/// pass reads straight from the chunk buffers, freeing each once it is scattered.
fn radix_sort(chunks: Vec<Vec<Candidate>>, total: usize) -> Vec<Candidate> {
    const BITS: u32 = 11;
    const RADIX: usize = 1 << BITS;
    let first = match chunks.iter().flatten().next() {
        Some(c) => c.key,
        None => return Vec::new(),
    };
    let varying = chunks.iter().flatten().fold(0u64, |acc, c| acc | (c.key ^ first));
    if varying == 0 {
        // every key is equal: row order is already the answer
        let mut out = crate::alloc::with_capacity(total);
        for chunk in chunks {
            out.extend_from_slice(&chunk);
        }
        return out;
    }
    let lo = varying.trailing_zeros();
    let hi = 64 - varying.leading_zeros();
    let shifts: Vec<u32> = (lo..hi).step_by(BITS as usize).collect();

    let mut src: Vec<Candidate> = Vec::new();
    let mut dst: Vec<Candidate> = crate::alloc::with_capacity(total);
    let mut chunks = Some(chunks);
    for &shift in &shifts {
        let digit = |c: &Candidate| ((c.key >> shift) as usize) & (RADIX - 1);
        let mut offsets = vec![0usize; RADIX];
        match &chunks {
            Some(ch) => ch.iter().flatten().for_each(|c| offsets[digit(c)] += 1),
            None => src.iter().for_each(|c| offsets[digit(c)] += 1),
        }
        let mut sum = 0;
        for o in offsets.iter_mut() {
            let n = *o;
            *o = sum;
            sum += n;
        }
        let out = dst.as_mut_ptr();
        let mut scatter = |c: &Candidate| {
            let d = digit(c);
            // SAFETY: offsets partition 0..total and each slot is written exactly once;
            // `dst` has capacity `total`.
            unsafe { out.add(offsets[d]).write(*c) };
            offsets[d] += 1;
        };
        match chunks.take() {
            Some(ch) => {
                for chunk in ch {
                    chunk.iter().for_each(&mut scatter);
                    // `chunk` is freed here
                }
            }
            None => src.iter().for_each(&mut scatter),
        }
        // SAFETY: all `total` slots were written above.
        unsafe { dst.set_len(total) };
        std::mem::swap(&mut src, &mut dst);
        if dst.capacity() < total {
            dst = crate::alloc::with_capacity(total);
        }
        // SAFETY: Candidate is plain data; the old contents are overwritten by the next pass.
        unsafe { dst.set_len(0) };
    }
    src
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranking::score_key;


    fn random_cands(n: usize, distinct: u64, seed: u64, row_order: bool) -> Vec<Candidate> {
        let mut x = seed;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let score = ((x >> 33) % distinct) as f64 / distinct as f64;
                let row = if row_order { i } else { n - i } as u64;
                Candidate::new(score_key(score, i % 3 == 0), row, (x % 7) as u32)
            })
            .collect()
    }

    #[test]
    fn radix_sort_of_row_ordered_chunks_equals_a_plain_sort() {
        for (n, distinct) in [(70_000usize, 50u64), (300_000, 1 << 20), (200_000, 1), (5, 3)] {
            let all = random_cands(n, distinct, n as u64, true);
            let mut want = all.clone();
            want.sort_unstable_by_key(Candidate::rank);
            let chunks: Vec<Vec<Candidate>> = all.chunks(7_777).map(|c| c.to_vec()).collect();
            let got = radix_sort(chunks, n);
            assert!(got == want, "radix sort differs: n={n} distinct={distinct}");
            let chunks: Vec<Vec<Candidate>> = all.chunks(1_000).map(|c| c.to_vec()).collect();
            assert!(sort_chunks(chunks) == want, "sort_chunks differs: n={n}");
        }
    }

    #[test]
    fn sort_candidates_handles_any_order() {
        for n in [10usize, 100_000] {
            let mut v = random_cands(n, 20, 5, false);
            let mut want = v.clone();
            want.sort_by_key(|c| (c.key, c.tag));
            sort_candidates(&mut v);
            assert!(v == want, "n={n}");
        }
    }
}
