//! Diverse batch selection: k-center greedy (farthest-first) and k-means++ seeding over
//! factored gradient embeddings (BADGE).
//!
//! Both are sequential in their picks and parallel within a pick. Every distance is
//! computed by one function in one fixed order, comparisons are exact, and ties go to the
//! lower row, so the picks are bitwise independent of the thread count.

use crate::distance::{dot, min_distance_update, same_width, sq_dist, Points, ROWS_PER_JOB};
use crate::error::{param, Result};
use crate::float::Prob;
use crate::threads::parallel_map;

/// Members scanned by one parallel work item of a k-center pick.
const MEMBERS_PER_JOB: usize = 8192;
/// A cluster is skipped when `D > 4 r (1 + PRUNE_SLACK)` (squared distances): the slack
/// keeps the triangle-inequality bound safely exact under round-off.
const PRUNE_SLACK: f64 = 1e-9;

/// The picks of a greedy batch, in pick order, with the squared distance from each pick to
/// its nearest center when it was picked (infinite for the first pick without centers).
#[derive(Debug, Clone, PartialEq)]
pub struct FarthestFirst {
    pub indices: Vec<i64>,
    pub distances: Vec<f64>,
}

/// The rows currently nearest to one center, with their farthest member.
struct Cluster<'a, T> {
    /// `None`: the virtual cluster of every row before the first center exists.
    center: Option<&'a [T]>,
    members: Vec<u32>,
    radius: f64,
    far: usize,
}

/// The farthest of `rows` by `mins` (the lowest row on ties); `(-inf, usize::MAX)` when
/// none is left.
fn farthest(rows: &[u32], mins: &[f64]) -> (f64, usize) {
    let mut best = (f64::NEG_INFINITY, usize::MAX);
    for &r in rows {
        let (d, r) = (mins[r as usize], r as usize);
        if d > best.0 || (d == best.0 && r < best.1) {
            best = (d, r);
        }
    }
    best
}

fn further(a: (f64, usize), b: (f64, usize)) -> (f64, usize) {
    if b.0 > a.0 || (b.0 == a.0 && b.1 < a.1) {
        b
    } else {
        a
    }
}

/// Rows that may be picked: all, or those `exclude` does not mark.
fn available(n: usize, exclude: Option<&[bool]>) -> Result<Vec<bool>> {
    match exclude {
        None => Ok(vec![true; n]),
        Some(e) if e.len() == n => Ok(e.iter().map(|&x| !x).collect()),
        Some(e) => Err(param("exclude", format!("must have one value per pool row ({n}), got {}", e.len()))),
    }
}

/// k-center greedy (Gonzalez 1985; Sener & Savarese 2018): `k` pool rows picked one at a
/// time, each the row farthest (squared Euclidean) from its nearest center, the `centers`
/// given and the rows picked so far; the lowest row wins ties. Without centers the first
/// pick is the lowest available row.
///
/// The picks equal the naive algorithm's (every distance recomputed); the work is not:
/// each center keeps the rows nearest to it and their largest distance `r`, and a new pick
/// at squared distance `D` from a center can only come nearer to its rows when
/// `D <= 4 r` (triangle inequality), so most clusters are skipped once the batch grows.
/// Memory is `O(n)` (one distance and one row id per pool row).
pub fn kcenter_greedy<T: Prob>(
    pool: &Points<T>,
    centers: &Points<T>,
    k: usize,
    exclude: Option<&[bool]>,
) -> Result<FarthestFirst> {
    same_width(pool, "the pool", centers, "centers")?;
    let n = pool.n;
    if u32::try_from(n).is_err() {
        return Err(param("X_pool", format!("must have at most {} rows, got {n}", u32::MAX)));
    }
    let avail = available(n, exclude)?;
    let n_available = avail.iter().filter(|&&a| a).count();
    if k > n_available {
        return Err(param(
            "k",
            format!("must be at most the number of available pool rows ({n_available}), got {k}"),
        ));
    }
    let mut out = FarthestFirst { indices: Vec::with_capacity(k), distances: Vec::with_capacity(k) };
    if k == 0 {
        return Ok(out);
    }
    let mut mins = vec![f64::INFINITY; n];
    let mut clusters: Vec<Cluster<T>> = Vec::with_capacity(centers.n + k);
    if centers.n > 0 {
        let mut near = vec![0i64; n];
        min_distance_update(pool, centers, &mut mins, Some(&mut near), 0)?;
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); centers.n];
        for i in 0..n {
            if avail[i] {
                members[near[i] as usize].push(i as u32);
            }
        }
        for (c, rows) in members.into_iter().enumerate() {
            let (radius, far) = farthest(&rows, &mins);
            clusters.push(Cluster { center: Some(centers.row(c)), members: rows, radius, far });
        }
    } else {
        let rows: Vec<u32> = (0..n as u32).filter(|&i| avail[i as usize]).collect();
        let (radius, far) = farthest(&rows, &mins);
        clusters.push(Cluster { center: None, members: rows, radius, far });
    }
    for i in 0..n {
        if !avail[i] {
            mins[i] = f64::NEG_INFINITY;
        }
    }

    for _ in 0..k {
        let (radius, pick) = clusters.iter().fold((f64::NEG_INFINITY, usize::MAX), |acc, c| {
            further(acc, (c.radius, c.far))
        });
        if pick == usize::MAX {
            break; // unreachable: k <= the available rows
        }
        out.indices.push(pick as i64);
        out.distances.push(radius);
        mins[pick] = f64::NEG_INFINITY; // never picked again, never moved
        let x = pool.row(pick);

        // which clusters can the new center take rows from?
        let scan: Vec<usize> = (0..clusters.len())
            .filter(|&j| {
                let c = &clusters[j];
                if c.members.is_empty() || c.radius == f64::NEG_INFINITY {
                    return false;
                }
                match c.center {
                    None => true,
                    Some(center) => sq_dist(center, x) <= 4.0 * c.radius * (1.0 + PRUNE_SLACK),
                }
            })
            .collect();
        let mut jobs: Vec<(usize, usize, usize)> = Vec::new(); // (scan slot, lo, hi)
        for (s, &j) in scan.iter().enumerate() {
            let len = clusters[j].members.len();
            for lo in (0..len).step_by(MEMBERS_PER_JOB) {
                jobs.push((s, lo, (lo + MEMBERS_PER_JOB).min(len)));
            }
        }
        let parts = {
            let (clusters, mins) = (&clusters, &mins);
            parallel_map(jobs, |(s, lo, hi)| {
                let rows = &clusters[scan[s]].members[lo..hi];
                let mut kept = Vec::with_capacity(rows.len());
                let mut moved = Vec::new();
                let mut best = (f64::NEG_INFINITY, usize::MAX);
                for &r in rows {
                    let m = mins[r as usize];
                    if m == f64::NEG_INFINITY {
                        continue; // picked: dropped from its cluster
                    }
                    let dist = sq_dist(pool.row(r as usize), x);
                    if dist < m {
                        moved.push((r, dist));
                    } else {
                        best = further(best, (m, r as usize));
                        kept.push(r);
                    }
                }
                (s, kept, moved, best)
            })?
        };
        let mut new_members = Vec::new();
        let mut new_best = (f64::NEG_INFINITY, usize::MAX);
        let mut rebuilt: Vec<(Vec<u32>, (f64, usize))> =
            (0..scan.len()).map(|_| (Vec::new(), (f64::NEG_INFINITY, usize::MAX))).collect();
        for (s, kept, moved, best) in parts {
            let slot = &mut rebuilt[s];
            slot.0.extend_from_slice(&kept);
            slot.1 = further(slot.1, best);
            for (r, dist) in moved {
                mins[r as usize] = dist;
                new_members.push(r);
                new_best = further(new_best, (dist, r as usize));
            }
        }
        for (s, (members, (radius, far))) in rebuilt.into_iter().enumerate() {
            let c = &mut clusters[scan[s]];
            c.members = members;
            c.radius = radius;
            c.far = far;
        }
        clusters.push(Cluster { center: Some(x), members: new_members, radius: new_best.0, far: new_best.1 });
    }
    Ok(out)
}

/// k-means++ seeding (Arthur & Vassilvitskii 2007) over gradient embeddings
/// `g_i = a_i (x) h_i` (BADGE, Ash et al. 2020), never formed: with `A_i = |a_i|^2 |h_i|^2`,
/// `|g_i - g_j|^2 = A_i + A_j - 2 (a_i . a_j)(h_i . h_j)` (clipped at 0).
///
/// The first pick is the row of largest `A_i` (the lowest row on ties); pick `t >= 1` is
/// drawn with probability proportional to the squared distance to the nearest pick, from
/// `draws[t - 1]` in `[0, 1)`: the first row whose running sum (in row order, over fixed
/// blocks) exceeds `draws[t - 1]` times the total. When every distance is 0 the lowest
/// row not yet picked is taken. Memory is `O(n)` beyond the arguments.
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
    let avail = available(n, exclude)?;
    let n_available = avail.iter().filter(|&&x| x).count();
    if k > n_available {
        return Err(param(
            "k",
            format!("must be at most the number of available pool rows ({n_available}), got {k}"),
        ));
    }
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
    let mut picked = vec![false; n];
    let mut out = vec![first.1 as i64];
    picked[first.1] = true;
    // weight[i]: squared distance to the nearest pick for rows that may still be picked, else 0
    let mut weight: Vec<f64> = (0..n).map(|i| if avail[i] { f64::INFINITY } else { 0.0 }).collect();
    weight[first.1] = 0.0;
    let mut center = first.1;
    for &u in draws {
        let (ac, hc, nc) = (a.row(center), h.row(center), norms[center]);
        let parts: Vec<(Vec<f64>, f64)> = {
            let (weight, norms) = (&weight, &norms);
            parallel_map(blocks.clone(), |b| {
                let (lo, hi) = span(b);
                let mut w = weight[lo..hi].to_vec();
                let mut sum = 0.0f64;
                for (k, wk) in w.iter_mut().enumerate() {
                    if *wk > 0.0 {
                        let i = lo + k;
                        let d = (norms[i] + nc - 2.0 * dot(a.row(i), ac) * dot(h.row(i), hc)).max(0.0);
                        if d < *wk {
                            *wk = d;
                        }
                    }
                    sum += *wk;
                }
                (w, sum)
            })?
        };
        let mut total = 0.0f64;
        let mut sums = Vec::with_capacity(parts.len());
        for (b, (w, s)) in parts.into_iter().enumerate() {
            let (lo, hi) = span(b);
            weight[lo..hi].copy_from_slice(&w);
            sums.push(s);
            total += s;
        }
        let pick = if total > 0.0 && total.is_finite() {
            let target = u * total;
            let mut before = 0.0f64;
            let mut found = None;
            for (b, &s) in sums.iter().enumerate() {
                if before + s > target {
                    let (lo, hi) = span(b);
                    let mut local = 0.0f64;
                    for i in lo..hi {
                        local += weight[i];
                        if before + local > target {
                            found = Some(i);
                            break;
                        }
                    }
                    break;
                }
                before += s;
            }
            // round-off can leave the target at the very end: the last row with weight
            found.or_else(|| (0..n).rev().find(|&i| weight[i] > 0.0))
        } else {
            None
        };
        let pick = match pick {
            Some(i) => i,
            None => match (0..n).find(|&i| avail[i] && !picked[i]) {
                Some(i) => i,
                None => break, // unreachable: k <= the available rows
            },
        };
        picked[pick] = true;
        weight[pick] = 0.0;
        out.push(pick as i64);
        center = pick;
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
