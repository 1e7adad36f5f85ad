//! The kernels' thread pool. Results never depend on its size: floating-point sums use a
//! fixed partition of rows, and selections rank by an exact total order.

use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{param, Result};

/// The environment variable read when the pool is first used.
pub const ENV_NUM_THREADS: &str = "PSEUDOLABEL_NUM_THREADS";

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn build(n: usize) -> Result<Arc<ThreadPool>> {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("pseudolabel-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| param("num_threads", format!("could not start {n} threads: {e}")))
}

fn default_threads() -> Result<usize> {
    match std::env::var(ENV_NUM_THREADS) {
        Ok(v) if !v.trim().is_empty() => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(param(
                "PSEUDOLABEL_NUM_THREADS",
                format!("must be a positive integer, got {v:?}"),
            )),
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

/// Run `f` inside the kernels' pool.
pub fn with_pool<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool()?.install(f))
}

/// Resize the pool. `n` must be at least 1.
pub fn set_num_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(param("n", "the number of threads must be at least 1"));
    }
    let p = build(n)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(p);
    Ok(())
}

/// The pool's size (creating it from the environment if needed).
pub fn get_num_threads() -> Result<usize> {
    Ok(pool()?.current_num_threads())
}
