//! The kernels' thread pool. Results never depend on its size: floating-point sums use a
//! fixed partition of rows, and selections rank by an exact total order.
//!
//! The pool size is bounded by [`max_threads`]; work that fits in one block of rows runs on
//! the calling thread, so a small call never starts a pool.

use std::sync::{Arc, RwLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{param, Result};

/// The environment variable read when the pool is first used.
pub const ENV_NUM_THREADS: &str = "PSEUDOLABEL_NUM_THREADS";

/// The fewest threads [`max_threads`] allows, however few CPUs the machine has.
const MIN_CAP: usize = 256;

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// The largest pool size accepted: `max(4 * available CPUs, 256)`. More threads than that
/// only cost memory and start-up time.
pub fn max_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    cpus.saturating_mul(4).max(MIN_CAP)
}

/// Check a requested thread count; `name` is what the caller called it.
fn checked(name: &'static str, n: i64) -> Result<usize> {
    let max = max_threads();
    if n < 1 {
        return Err(param(name, format!("must be at least 1, got {n}")));
    }
    match usize::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(param(
            name,
            format!("must be at most {max} (4 x the CPUs, at least 256), got {n}"),
        )),
    }
}

fn build(n: usize) -> Result<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("pseudolabel-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| param("num_threads", format!("could not start {n} threads: {e}")))
}

/// The pool size asked for by the environment, or the number of CPUs.
fn default_threads() -> Result<usize> {
    match std::env::var(ENV_NUM_THREADS) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<i64>() {
            Ok(n) => checked(ENV_NUM_THREADS, n),
            Err(_) => Err(param(ENV_NUM_THREADS, format!("must be a positive integer, got {v:?}"))),
        },
        _ => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(p.clone());
    }
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = guard.as_ref() {
        return Ok(p.clone());
    }
    let p = build(default_threads()?)?;
    *guard = Some(p.clone());
    Ok(p)
}

/// Run `f` inside the kernels' pool when there are at least two `work_items` to share;
/// otherwise on the calling thread, starting no pool (a bad environment value is still
/// reported).
pub(crate) fn with_pool<R: Send>(work_items: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    if work_items <= 1 {
        if POOL.read().unwrap_or_else(|e| e.into_inner()).is_none() {
            default_threads()?;
        }
        return Ok(f());
    }
    Ok(pool()?.install(f))
}

/// `f` applied to every job, in order: in parallel on the kernels' pool, or on the calling
/// thread when there is only one job (so a small call never wakes a thread).
pub(crate) fn parallel_map<J: Send, R: Send>(
    jobs: Vec<J>,
    f: impl Fn(J) -> R + Send + Sync,
) -> Result<Vec<R>> {
    if jobs.len() <= 1 {
        return with_pool(1, || jobs.into_iter().map(f).collect());
    }
    with_pool(jobs.len(), || jobs.into_par_iter().map(f).collect())
}

/// The number of pieces to split `work_items` into: at most two per thread, and never more
/// than there are items.
pub(crate) fn parts_for(work_items: usize) -> Result<usize> {
    if work_items <= 1 {
        return Ok(work_items);
    }
    Ok(work_items.min(get_num_threads()?.saturating_mul(2)))
}

/// Resize the pool to `n` threads, `1 <= n <=` [`max_threads`].
pub fn set_num_threads(n: i64) -> Result<()> {
    let p = build(checked("the number of threads", n)?)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(p);
    Ok(())
}

/// The pool's size (creating it from the environment if needed).
pub fn get_num_threads() -> Result<usize> {
    Ok(pool()?.current_num_threads())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_bounded() {
        assert!(matches!(checked("n", 0), Err(crate::KernelError::Parameter { .. })));
        assert!(matches!(checked("n", -5), Err(crate::KernelError::Parameter { .. })));
        assert!(checked("n", max_threads() as i64 + 1).is_err());
        assert!(checked("n", i64::MAX).is_err());
        assert_eq!(checked("n", 3).ok(), Some(3));
        assert!(max_threads() >= MIN_CAP);
    }
}
