//! The kernels' thread pool. Results never depend on its size: floating-point sums use a
//! fixed partition of rows, and selections rank by an exact total order.
//!
//! The thread count is bounded by [`max_threads`]. The pool never has more threads than the
//! largest call so far had work items: a call whose rows fit in one block runs on the
//! calling thread and starts no pool.

use std::sync::{Arc, RwLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{param, Result};

/// The environment variable read when the pool is first used.
pub const ENV_NUM_THREADS: &str = "PSEUDOLABEL_NUM_THREADS";

/// The fewest threads [`max_threads`] allows, however few CPUs the machine has.
const MIN_CAP: usize = 256;

/// The thread count asked for (`None`: not read from the environment yet) and the pool,
/// which is started on first use with no more threads than that use has work items, and
/// grown when a later call has more.
struct Threads {
    configured: Option<usize>,
    pool: Option<Arc<ThreadPool>>,
}

static THREADS: RwLock<Threads> = RwLock::new(Threads { configured: None, pool: None });

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

fn read() -> std::sync::RwLockReadGuard<'static, Threads> {
    THREADS.read().unwrap_or_else(|e| e.into_inner())
}

fn write() -> std::sync::RwLockWriteGuard<'static, Threads> {
    THREADS.write().unwrap_or_else(|e| e.into_inner())
}

/// A pool with at least `min(configured, work_items)` threads.
fn pool_for(work_items: usize) -> Result<Arc<ThreadPool>> {
    let wanted = |configured: usize| configured.min(work_items).max(1);
    {
        let state = read();
        if let (Some(configured), Some(pool)) = (state.configured, state.pool.as_ref()) {
            if pool.current_num_threads() >= wanted(configured) {
                return Ok(pool.clone());
            }
        }
    }
    let mut state = write();
    let configured = match state.configured {
        Some(n) => n,
        None => default_threads()?,
    };
    state.configured = Some(configured);
    let have = state.pool.as_ref().map_or(0, |p| p.current_num_threads());
    if let Some(pool) = state.pool.as_ref() {
        if have >= wanted(configured) {
            return Ok(pool.clone());
        }
    }
    // grow at least twofold, so that a run of growing calls rebuilds the pool few times
    let size = wanted(configured).max(have.saturating_mul(2)).min(configured);
    let pool = build(size)?;
    state.pool = Some(pool.clone());
    Ok(pool)
}

/// Run `f` inside the kernels' pool when there are at least two `work_items` to share;
/// otherwise on the calling thread, starting no pool (a bad environment value is still
/// reported).
pub(crate) fn with_pool<R: Send>(work_items: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    if work_items <= 1 {
        get_num_threads()?;
        return Ok(f());
    }
    Ok(pool_for(work_items)?.install(f))
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

/// Use `n` threads from now on, `1 <= n <=` [`max_threads`]. The pool is restarted lazily.
pub fn set_num_threads(n: i64) -> Result<()> {
    let n = checked("the number of threads", n)?;
    let mut state = write();
    state.configured = Some(n);
    state.pool = None;
    Ok(())
}

/// The number of threads the kernels may use (read from the environment if not set yet).
pub fn get_num_threads() -> Result<usize> {
    if let Some(n) = read().configured {
        return Ok(n);
    }
    let n = default_threads()?;
    let mut state = write();
    Ok(*state.configured.get_or_insert(n))
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
