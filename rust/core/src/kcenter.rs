//! Diverse batch selection: k-center greedy (farthest-first) and k-means++ seeding over
//! factored gradient embeddings (BADGE).
//!
//! Both pick one row at a time and keep every row's squared distance to its nearest center.
//! Each center owns the rows nearest to it, sorted by that distance (largest first, the
//! lower row on ties). A new center at squared distance `D` from center `j` can only come
//! nearer to a row of `j` at squared distance `m` when `D <= 4 m` (triangle inequality),
//! so only a prefix of each cluster is ever looked at, and far clusters not at all: the
//! picks are those of the naive algorithm (every distance recomputed), at a fraction of
//! the work. Distances are computed by one function in one fixed order, comparisons are
//! exact, and ties go to the lower row, so the picks are bitwise independent of the
//! thread count.

use crate::distance::{dot, min_distance_update, same_width, sq_dist, Points, ROWS_PER_JOB};
use crate::error::{param, Result};
use crate::float::Prob;
use crate::threads::parallel_map;

/// `parallel_map` when `large`, else a plain map on the calling thread.
fn map_jobs<J: Send, R: Send>(large: bool, jobs: Vec<J>, f: impl Fn(J) -> R + Send + Sync) -> Result<Vec<R>> {
    if large {
        parallel_map(jobs, f)
    } else {
        Ok(jobs.into_iter().map(f).collect())
    }
}

/// Members scanned by one parallel work item of a pick.
const MEMBERS_PER_JOB: usize = 8192;
/// A pick measures at least this many rows before its work is shared among threads: a
/// smaller pick costs less than waking them (on a loaded machine, far less).
const PARALLEL_MIN_ROWS: usize = 1 << 18;
/// Relative slack of the pruning bound, so round-off never prunes a row that could move.
const PRUNE_SLACK: f64 = 1e-9;

/// Squared distances between the rows of a pool and centers. Each cluster keeps a copy of
/// its rows' values (`width` per row) next to their ids, so a pick reads the rows it
/// measures from contiguous memory instead of scattered over the pool.
trait Space<T: Prob>: Sync {
    type Center: Copy + Send + Sync;
    /// Values kept per row.
    fn width(&self) -> usize;
    /// Append row `i`'s values to `out`.
    fn store(&self, i: usize, out: &mut Vec<T>);
    /// Squared distance from row `i` (its kept values `values`) to center `c`.
    fn to_center(&self, values: &[T], i: usize, c: Self::Center) -> f64;
    /// Squared distance between two centers.
    fn between(&self, a: Self::Center, b: Self::Center) -> f64;
    /// Pool row `i` as a center.
    fn center_of(&self, i: usize) -> Self::Center;
    /// Absolute slack of the pruning bound (round-off of the distance formula).
    fn slack(&self) -> f64;
}

/// Feature rows, distances from differences.
struct Dense<'a, T> {
    pool: Points<'a, T>,
}

impl<'a, T: Prob> Space<T> for Dense<'a, T> {
    type Center = &'a [T];
    fn width(&self) -> usize {
        self.pool.d
    }
    fn store(&self, i: usize, out: &mut Vec<T>) {
        out.extend_from_slice(self.pool.row(i));
    }
    fn to_center(&self, values: &[T], _i: usize, c: &'a [T]) -> f64 {
        sq_dist(values, c)
    }
    fn between(&self, a: &'a [T], b: &'a [T]) -> f64 {
        sq_dist(a, b)
    }
    fn center_of(&self, i: usize) -> &'a [T] {
        self.pool.row(i)
    }
    fn slack(&self) -> f64 {
        0.0
    }
}

/// Gradient embeddings `g_i = a_i (x) h_i`, never formed:
/// `|g_i - g_j|^2 = A_i + A_j - 2 (a_i . a_j)(h_i . h_j)` with `A_i = |a_i|^2 |h_i|^2`.
struct Factored<'a, T> {
    a: Points<'a, T>,
    h: Points<'a, T>,
    norms: Vec<f64>,
    slack: f64,
}

impl<'a, T: Prob> Factored<'a, T> {
    fn dist(&self, ai: &[T], hi: &[T], norm_i: f64, j: usize) -> f64 {
        let cross = dot(ai, self.a.row(j)) * dot(hi, self.h.row(j));
        (norm_i + self.norms[j] - 2.0 * cross).max(0.0)
    }
}

impl<'a, T: Prob> Space<T> for Factored<'a, T> {
    type Center = usize;
    // rows of C + d values are read in place: long enough to stream well, and a copy of
    // a wide embedding would cost more memory than it saves time
    fn width(&self) -> usize {
        0
    }
    fn store(&self, _i: usize, _out: &mut Vec<T>) {}
    fn to_center(&self, _values: &[T], i: usize, c: usize) -> f64 {
        self.dist(self.a.row(i), self.h.row(i), self.norms[i], c)
    }
    fn between(&self, x: usize, y: usize) -> f64 {
        self.dist(self.a.row(x), self.h.row(x), self.norms[x], y)
    }
    fn center_of(&self, i: usize) -> usize {
        i
    }
    fn slack(&self) -> f64 {
        self.slack
    }
}

/// `(distance, row)` ordered farthest first, then the lower row.
#[inline]
fn further(a: (f64, usize), b: (f64, usize)) -> (f64, usize) {
    if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
        b
    } else {
        a
    }
}

/// The rows nearest to one center, farthest first (the lower row on ties): their ids, their
/// squared distances to the center and a copy of their values, in the same order.
struct Cluster<T, C> {
    /// `None`: every row before the first center exists (all at infinite distance).
    center: Option<C>,
    rows: Vec<u32>,
    dist: Vec<f64>,
    values: Vec<T>,
}

impl<T: Prob, C> Cluster<T, C> {
    fn empty(center: Option<C>) -> Self {
        Cluster { center, rows: Vec::new(), dist: Vec::new(), values: Vec::new() }
    }

    /// Sort by distance (largest first), then by row; the values are permuted in place.
    fn sort(&mut self, width: usize) {
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        let (rows, dist) = (&self.rows, &self.dist);
        order.sort_unstable_by(|&x, &y| {
            dist[y].partial_cmp(&dist[x]).unwrap_or(std::cmp::Ordering::Equal).then(rows[x].cmp(&rows[y]))
        });
        permute_rows(&mut self.values, width, &order);
        self.rows = order.iter().map(|&k| self.rows[k]).collect();
        self.dist = order.iter().map(|&k| self.dist[k]).collect();
    }

    /// Give memory back once most rows have left.
    fn shrink(&mut self) {
        if self.rows.len() <= self.rows.capacity() / 2 {
            self.rows.shrink_to_fit();
            self.dist.shrink_to_fit();
            self.values.shrink_to_fit();
        }
    }
}

/// `new row k = old row order[k]` for rows of `width` values, in place (one row of scratch,
/// one flag per row), following the permutation's cycles.
fn permute_rows<T: Copy>(data: &mut [T], width: usize, order: &[usize]) {
    if width == 0 {
        return;
    }
    let mut done = vec![false; order.len()];
    let mut saved: Vec<T> = Vec::with_capacity(width);
    for start in 0..order.len() {
        if done[start] {
            continue;
        }
        done[start] = true;
        if order[start] == start {
            continue;
        }
        saved.clear();
        saved.extend_from_slice(&data[start * width..(start + 1) * width]);
        let mut k = start;
        loop {
            let src = order[k];
            if src == start {
                data[k * width..(k + 1) * width].copy_from_slice(&saved);
                break;
            }
            data.copy_within(src * width..(src + 1) * width, k * width);
            done[src] = true;
            k = src;
        }
    }
}

/// Every row's squared distance to its nearest center, and the clusters.
struct Coverage<'s, T: Prob, S: Space<T>> {
    space: &'s S,
    /// squared distance to the nearest center; `-inf` for rows that may not be picked
    mins: Vec<f64>,
    clusters: Vec<Cluster<T, S::Center>>,
}

impl<'s, T: Prob, S: Space<T>> Coverage<'s, T, S> {
    /// Rows `avail` (all at infinite distance) in one cluster without a center.
    fn new(space: &'s S, avail: &[bool]) -> Self {
        let n = avail.len();
        let mut c = Cluster::empty(None);
        for i in 0..n {
            if avail[i] {
                c.rows.push(i as u32);
                c.dist.push(f64::INFINITY);
            }
        }
        let mins = avail.iter().map(|&a| if a { f64::INFINITY } else { f64::NEG_INFINITY }).collect();
        Coverage { space, mins, clusters: vec![c] }
    }

    /// Rows `avail` with their squared distances `mins` to the nearest of `centers`, whose
    /// index is `nearest`.
    fn with_centers(space: &'s S, avail: &[bool], mut mins: Vec<f64>, nearest: &[i64], centers: Vec<S::Center>) -> Result<Self> {
        let mut clusters: Vec<Cluster<T, S::Center>> = centers.into_iter().map(|c| Cluster::empty(Some(c))).collect();
        for i in 0..avail.len() {
            if avail[i] {
                let c = &mut clusters[nearest[i] as usize];
                c.rows.push(i as u32);
                c.dist.push(mins[i]);
                space.store(i, &mut c.values);
            } else {
                mins[i] = f64::NEG_INFINITY;
            }
        }
        let width = space.width();
        let clusters = parallel_map(clusters, |mut c| {
            c.sort(width);
            c
        })?;
        Ok(Coverage { space, mins, clusters })
    }

    /// The farthest row from its nearest center (the lower row on ties).
    fn farthest(&self) -> (f64, usize) {
        self.clusters.iter().fold((f64::NEG_INFINITY, usize::MAX), |acc, c| match c.rows.first() {
            Some(&r) => further(acc, (c.dist[0], r as usize)),
            None => acc,
        })
    }

    /// Take row `p` out (it becomes a center and is never picked again); the next
    /// [`Coverage::add_center`] drops it from its cluster, whose scanned prefix always holds
    /// it (its distance to its own center `m` meets `4 m >= m`).
    fn remove(&mut self, p: usize) {
        self.mins[p] = f64::NEG_INFINITY;
    }

    /// Make pool row `p` (already removed) a center; returns the rows that came nearer.
    fn add_center(&mut self, p: usize) -> Result<Vec<u32>> {
        let space = self.space;
        let width = space.width();
        let x = space.center_of(p);
        let slack = space.slack();
        // the prefix of each cluster the new center can take rows from
        let mut jobs: Vec<(usize, usize, usize)> = Vec::new(); // (cluster, lo, hi)
        for (j, c) in self.clusters.iter().enumerate() {
            if c.rows.is_empty() {
                continue;
            }
            let prefix = match c.center {
                None => c.rows.len(),
                Some(center) => {
                    let d = space.between(center, x);
                    c.dist.partition_point(|&m| 4.0 * m * (1.0 + PRUNE_SLACK) + slack >= d)
                }
            };
            for lo in (0..prefix).step_by(MEMBERS_PER_JOB) {
                jobs.push((j, lo, (lo + MEMBERS_PER_JOB).min(prefix)));
            }
        }
        let work: usize = jobs.iter().map(|&(_, lo, hi)| hi - lo).sum();
        // per job: the positions that stay and the (position, new distance) of those that move
        let parts = {
            let clusters = &self.clusters;
            map_jobs(work >= PARALLEL_MIN_ROWS, jobs, |(j, lo, hi)| {
                let c = &clusters[j];
                let mut moved: Vec<(usize, f64)> = Vec::new();
                let mut scratch: Vec<T> = Vec::with_capacity(width);
                for k in lo..hi {
                    let r = c.rows[k] as usize;
                    if r == p {
                        moved.push((k, f64::NEG_INFINITY)); // the new center itself: dropped
                        continue;
                    }
                    // the cluster without a center keeps no copies: read the row itself
                    let values = if c.center.is_none() {
                        scratch.clear();
                        space.store(r, &mut scratch);
                        &scratch[..]
                    } else {
                        &c.values[k * width..(k + 1) * width]
                    };
                    let dist = space.to_center(values, r, x);
                    if dist < c.dist[k] {
                        moved.push((k, dist));
                    }
                }
                (j, hi, moved)
            })?
        };
        let mut fresh: Cluster<T, S::Center> = Cluster::empty(Some(x));
        // rebuild each touched cluster without the rows that moved
        let mut at = 0;
        while at < parts.len() {
            let j = parts[at].0;
            let mut end = at;
            while end < parts.len() && parts[end].0 == j {
                end += 1;
            }
            let n_moved: usize = parts[at..end].iter().map(|p| p.2.len()).sum();
            if n_moved > 0 {
                let c = &mut self.clusters[j];
                let mut gone = vec![false; parts[end - 1].1];
                for part in &parts[at..end] {
                    for &(k, dist) in &part.2 {
                        gone[k] = true;
                        if dist == f64::NEG_INFINITY {
                            continue;
                        }
                        let r = c.rows[k];
                        self.mins[r as usize] = dist;
                        fresh.rows.push(r);
                        fresh.dist.push(dist);
                        if c.center.is_none() {
                            space.store(r as usize, &mut fresh.values);
                        } else {
                            fresh.values.extend_from_slice(&c.values[k * width..(k + 1) * width]);
                        }
                    }
                }
                let len = c.rows.len();
                let mut keep = 0;
                for k in 0..len {
                    if k < gone.len() && gone[k] {
                        continue;
                    }
                    if keep != k {
                        c.rows[keep] = c.rows[k];
                        c.dist[keep] = c.dist[k];
                        if c.center.is_some() {
                            c.values.copy_within(k * width..(k + 1) * width, keep * width);
                        }
                    }
                    keep += 1;
                }
                c.rows.truncate(keep);
                c.dist.truncate(keep);
                c.values.truncate(if c.center.is_some() { keep * width } else { 0 });
                c.shrink();
            }
            at = end;
        }
        fresh.sort(width);
        let moved = fresh.rows.clone();
        self.clusters.push(fresh);
        Ok(moved)
    }
}

/// The picks of a greedy batch, in pick order, with the squared distance from each pick to
/// its nearest center when it was picked (infinite for the first pick without centers).
#[derive(Debug, Clone, PartialEq)]
pub struct FarthestFirst {
    pub indices: Vec<i64>,
    pub distances: Vec<f64>,
}

/// Rows that may be picked, and how many.
fn available(n: usize, k: usize, exclude: Option<&[bool]>) -> Result<Vec<bool>> {
    if u32::try_from(n).is_err() {
        return Err(param("X_pool", format!("must have at most {} rows, got {n}", u32::MAX)));
    }
    let avail: Vec<bool> = match exclude {
        None => vec![true; n],
        Some(e) if e.len() == n => e.iter().map(|&x| !x).collect(),
        Some(e) => return Err(param("exclude", format!("must have one value per pool row ({n}), got {}", e.len()))),
    };
    let n_available = avail.iter().filter(|&&a| a).count();
    if k > n_available {
        return Err(param("k", format!("must be at most the number of available pool rows ({n_available}), got {k}")));
    }
    Ok(avail)
}

/// k-center greedy (Gonzalez 1985; Sener & Savarese 2018): `k` pool rows picked one at a
/// time, each the row farthest (squared Euclidean) from its nearest center, the `centers`
/// given and the rows picked so far; the lowest row wins ties. Without centers the first
/// pick is the lowest available row. Memory is `O(n)` (a distance and two row ids per row).
pub fn kcenter_greedy<T: Prob>(
    pool: &Points<T>,
    centers: &Points<T>,
    k: usize,
    exclude: Option<&[bool]>,
) -> Result<FarthestFirst> {
    same_width(pool, "the pool", centers, "centers")?;
    let n = pool.n;
    let avail = available(n, k, exclude)?;
    let mut out = FarthestFirst { indices: Vec::with_capacity(k), distances: Vec::with_capacity(k) };
    if k == 0 {
        return Ok(out);
    }
    let space = Dense { pool: *pool };
    let mut cover = if centers.n > 0 {
        let mut mins = vec![f64::INFINITY; n];
        let mut near = vec![0i64; n];
        min_distance_update(pool, centers, &mut mins, Some(&mut near), 0)?;
        Coverage::with_centers(&space, &avail, mins, &near, (0..centers.n).map(|c| centers.row(c)).collect())?
    } else {
        Coverage::new(&space, &avail)
    };
    for _ in 0..k {
        let (radius, pick) = cover.farthest();
        if pick == usize::MAX {
            break; // unreachable: k <= the available rows
        }
        out.indices.push(pick as i64);
        out.distances.push(radius);
        cover.remove(pick);
        cover.add_center(pick)?;
    }
    Ok(out)
}

/// k-means++ seeding (Arthur & Vassilvitskii 2007) over gradient embeddings
/// `g_i = a_i (x) h_i` (BADGE, Ash et al. 2020), never formed: with `A_i = |a_i|^2 |h_i|^2`,
/// `|g_i - g_j|^2 = A_i + A_j - 2 (a_i . a_j)(h_i . h_j)` (clipped at 0).
///
/// The first pick is the row of largest `A_i` (the lowest row on ties); pick `t >= 1` is
/// drawn with probability proportional to the squared distance to the nearest pick, from
/// `draws[t - 1]` in `[0, 1)`: the first row whose running sum (in row order, summed within
/// fixed blocks of rows, then across blocks) exceeds `draws[t - 1]` times the total. When
/// every distance is 0 the lowest row not yet picked is taken. Memory is `O(n)` beyond the
/// arguments.
pub fn kmeans_pp_factored<T: Prob>(
    a: &Points<T>,
    h: &Points<T>,
    k: usize,
    draws: &[f64],
    exclude: Option<&[bool]>,
) -> Result<Vec<i64>> {
    let n = a.n;
    if h.n != n {
        return Err(param("embedding", format!("must have one row per pool row ({n}), got {}", h.n)));
    }
    if draws.len() != k.saturating_sub(1) {
        return Err(param("draws", format!("must hold k - 1 = {} values, got {}", k.saturating_sub(1), draws.len())));
    }
    if let Some(at) = draws.iter().position(|u| !(0.0..1.0).contains(u)) {
        return Err(param("draws", format!("must lie in [0, 1), draws[{at}] is {}", draws[at])));
    }
    let avail = available(n, k, exclude)?;
    if k == 0 {
        return Ok(Vec::new());
    }
    let blocks: Vec<usize> = (0..n.div_ceil(ROWS_PER_JOB)).collect();
    let span = |b: usize| (b * ROWS_PER_JOB, ((b + 1) * ROWS_PER_JOB).min(n));
    let norms: Vec<f64> = parallel_map(blocks.clone(), |b| {
        let (lo, hi) = span(b);
        (lo..hi).map(|i| dot(a.row(i), a.row(i)) * dot(h.row(i), h.row(i))).collect::<Vec<f64>>()
    })?
    .concat();
    let mut first = (f64::NEG_INFINITY, usize::MAX);
    for i in 0..n {
        if avail[i] {
            first = further(first, (norms[i], i));
        }
    }
    let largest = norms.iter().cloned().fold(0.0f64, f64::max);
    let space = Factored { a: *a, h: *h, norms, slack: 1e-9 * largest };
    let mut cover = Coverage::new(&space, &avail);
    let mut out = Vec::with_capacity(k);
    // a block's weight: the sum of its rows' squared distances (0 for rows not available)
    let block_sum = |mins: &[f64], b: usize| -> f64 {
        let (lo, hi) = span(b);
        mins[lo..hi].iter().map(|&m| m.max(0.0)).sum()
    };
    let mut pick = first.1;
    let mut sums = vec![0.0f64; blocks.len()];
    for t in 0..k {
        out.push(pick as i64);
        cover.remove(pick);
        let moved = cover.add_center(pick)?;
        if t + 1 == k {
            break;
        }
        // re-add the blocks whose rows changed, in row order
        if t == 0 {
            let mins = &cover.mins;
            sums = parallel_map(blocks.clone(), |b| block_sum(mins, b))?;
        } else {
            let mut touched: Vec<usize> = moved.iter().map(|&r| r as usize / ROWS_PER_JOB).collect();
            touched.push(pick / ROWS_PER_JOB);
            touched.sort_unstable();
            touched.dedup();
            let mins = &cover.mins;
            let large = touched.len() * ROWS_PER_JOB >= PARALLEL_MIN_ROWS;
            let fresh = map_jobs(large, touched.clone(), |b| block_sum(mins, b))?;
            for (b, s) in touched.into_iter().zip(fresh) {
                sums[b] = s;
            }
        }
        let total: f64 = sums.iter().sum();
        let target = draws[t] * total;
        let mut next = None;
        if total > 0.0 && total.is_finite() {
            let mut before = 0.0f64;
            for (b, &s) in sums.iter().enumerate() {
                if before + s > target {
                    let (lo, hi) = span(b);
                    let mut local = 0.0f64;
                    for i in lo..hi {
                        local += cover.mins[i].max(0.0);
                        if before + local > target {
                            next = Some(i);
                            break;
                        }
                    }
                    break;
                }
                before += s;
            }
            // round-off can leave the target at the very end: the last row with weight
            next = next.or_else(|| (0..n).rev().find(|&i| cover.mins[i] > 0.0));
        }
        pick = match next.or_else(|| (0..n).find(|&i| cover.mins[i] != f64::NEG_INFINITY)) {
            Some(i) => i,
            None => break, // unreachable: k <= the available rows
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64) / ((1u64 << 53) as f64)
    }

    /// Every distance recomputed at every pick.
    fn naive(pool: &Points<f32>, centers: &Points<f32>, k: usize) -> Vec<i64> {
        let mut chosen: Vec<usize> = Vec::new();
        for _ in 0..k {
            let mut best = (f64::NEG_INFINITY, usize::MAX);
            for i in 0..pool.n {
                if chosen.contains(&i) {
                    continue;
                }
                let mut m = f64::INFINITY;
                for c in 0..centers.n {
                    m = m.min(sq_dist(pool.row(i), centers.row(c)));
                }
                for &c in &chosen {
                    m = m.min(sq_dist(pool.row(i), pool.row(c)));
                }
                best = further(best, (m, i));
            }
            chosen.push(best.1);
        }
        chosen.into_iter().map(|i| i as i64).collect()
    }

    /// k-means++ with every distance recomputed, sums in the kernel's block order.
    fn naive_pp(a: &Points<f64>, h: &Points<f64>, draws: &[f64]) -> Vec<i64> {
        let n = a.n;
        let g = |i: usize, j: usize| {
            let ai = dot(a.row(i), a.row(i)) * dot(h.row(i), h.row(i));
            let aj = dot(a.row(j), a.row(j)) * dot(h.row(j), h.row(j));
            (ai + aj - 2.0 * dot(a.row(i), a.row(j)) * dot(h.row(i), h.row(j))).max(0.0)
        };
        let norms: Vec<f64> = (0..n).map(|i| dot(a.row(i), a.row(i)) * dot(h.row(i), h.row(i))).collect();
        let mut first = (f64::NEG_INFINITY, usize::MAX);
        for (i, &v) in norms.iter().enumerate() {
            first = further(first, (v, i));
        }
        let mut chosen = vec![first.1];
        for &u in draws {
            let w: Vec<f64> = (0..n)
                .map(|i| if chosen.contains(&i) { 0.0 } else { chosen.iter().map(|&c| g(i, c)).fold(f64::INFINITY, f64::min) })
                .collect();
            let total: f64 = w.iter().sum();
            let mut run = 0.0;
            let pick = if total > 0.0 {
                (0..n).find(|&i| {
                    run += w[i];
                    run > u * total
                })
            } else {
                None
            };
            chosen.push(pick.unwrap_or_else(|| (0..n).find(|i| !chosen.contains(i)).unwrap()));
        }
        chosen.into_iter().map(|i| i as i64).collect()
    }

    #[test]
    fn kcenter_matches_naive_with_ties() {
        for seed0 in 0..20u64 {
            let mut seed = seed0;
            let (n, d) = (300, 2);
            // small integer grid: many exact ties
            let pool: Vec<f32> = (0..n * d).map(|_| (lcg(&mut seed) * 6.0).floor() as f32).collect();
            let cent: Vec<f32> = (0..(seed0 as usize % 3) * d).map(|_| (lcg(&mut seed) * 6.0).floor() as f32).collect();
            let p = Points::new("pool", &pool, n, d).unwrap();
            let c = Points::new("centers", &cent, cent.len() / d, d).unwrap();
            let got = kcenter_greedy(&p, &c, 40, None).unwrap();
            assert_eq!(got.indices, naive(&p, &c, 40), "seed {seed0}");
        }
    }

    #[test]
    fn kmeans_pp_matches_naive_on_exact_values() {
        for seed0 in 0..10u64 {
            let mut seed = seed0 + 100;
            let (n, c, d) = (200, 3, 4); // n < one block: the naive running sum is the kernel's
            let a: Vec<f64> = (0..n * c).map(|_| (lcg(&mut seed) * 5.0).floor() - 2.0).collect();
            let h: Vec<f64> = (0..n * d).map(|_| (lcg(&mut seed) * 5.0).floor() - 2.0).collect();
            let draws: Vec<f64> = (0..29).map(|_| lcg(&mut seed)).collect();
            let (pa, ph) = (Points::new("a", &a, n, c).unwrap(), Points::new("h", &h, n, d).unwrap());
            assert_eq!(kmeans_pp_factored(&pa, &ph, 30, &draws, None).unwrap(), naive_pp(&pa, &ph, &draws), "seed {seed0}");
        }
    }

    #[test]
    fn kcenter_is_independent_of_threads() {
        let mut seed = 11;
        let (n, d) = (40_000, 4);
        let pool: Vec<f32> = (0..n * d).map(|_| lcg(&mut seed) as f32).collect();
        let p = Points::new("pool", &pool, n, d).unwrap();
        let c = Points::new("centers", &pool[..2 * d], 2, d).unwrap();
        crate::set_num_threads(1).unwrap();
        let one = kcenter_greedy(&p, &c, 200, None).unwrap();
        crate::set_num_threads(2).unwrap();
        let two = kcenter_greedy(&p, &c, 200, None).unwrap();
        assert_eq!(one, two);
        let mut u: Vec<f64> = (0..99).map(|_| lcg(&mut seed)).collect();
        u.iter_mut().for_each(|v| *v = v.min(0.999));
        let h = Points::new("h", &pool, n, d).unwrap();
        crate::set_num_threads(1).unwrap();
        let k1 = kmeans_pp_factored(&p, &h, 100, &u, None).unwrap();
        crate::set_num_threads(2).unwrap();
        let k2 = kmeans_pp_factored(&p, &h, 100, &u, None).unwrap();
        assert_eq!(k1, k2);
        let mut s = k1.clone();
        s.sort();
        s.dedup();
        assert_eq!(s.len(), 100);
    }

    #[test]
    fn parameters_are_checked() {
        let v = [0.0f32; 6];
        let p = Points::new("pool", &v, 3, 2).unwrap();
        let none = Points::new("centers", &v[..0], 0, 2).unwrap();
        assert!(kcenter_greedy(&p, &none, 4, None).is_err());
        assert!(kcenter_greedy(&p, &none, 2, Some(&[true, true, false])).is_err());
        // all duplicates: the lowest rows, in order
        assert_eq!(kcenter_greedy(&p, &none, 3, None).unwrap().indices, vec![0, 1, 2]);
        assert!(kmeans_pp_factored(&p, &p, 2, &[1.0], None).is_err());
        assert_eq!(kmeans_pp_factored(&p, &p, 3, &[0.5, 0.5], None).unwrap(), vec![0, 1, 2]);
    }
}
