//! pseudolabel-core: the selection kernels of pseudolabel, in plain Rust.
//!
//! Every kernel reads a probability matrix (N rows x C classes, `f32` or `f64`, any
//! layout; C-contiguous input is read in place) in one multi-threaded pass:
//! - [`summarize`]: argmax, confidence, margin, entropy, class counts and means;
//! - [`select`]: threshold, per-class and global top-k selection, best first;
//! - [`quantile`]: exact quantiles of confidence;
//! - [`reduce_candidates`]: the merge step of a streaming top-k;
//! - [`sinkhorn`]: the Sinkhorn allocation of Confident Sinkhorn Allocation.
//!
//! The core owns every rule about its inputs (shapes, ranges, NaN, lengths, counts) and
//! reports a broken one as a [`KernelError`] naming the parameter; callers only convert.
//! Results never depend on the number of threads; ties go to the lower row index.
//! There is no PyO3 here: `rust/python` is the thin binding layer.

mod alloc;
mod block;
mod compact;
mod distance;
mod error;
mod float;
mod kcenter;
mod quantile;
mod radix;
mod ranking;
mod scan;
mod select;
mod sinkhorn;
mod summarize;
mod threads;
mod topk;

pub use error::{KernelError, Result, ValueProblem};
pub use float::Prob;
pub use quantile::quantile;
pub use ranking::{Candidate, MAX_CLASSES, MAX_ROWS};
pub use scan::{Matrix, Score};
pub use select::{count, counts, reduce_candidates, select, select_candidates, SelectParams, Selection, Threshold};
pub use summarize::{summarize, Summary};
pub use sinkhorn::{sinkhorn, Allocation, SinkhornParams};
pub use threads::{get_num_threads, max_threads, set_num_threads, ENV_NUM_THREADS};

// diverse batches: squared Euclidean distances, k-center greedy, k-means++ (BADGE), ranked batch
pub use distance::{min_distance_update, ranked_batch, sq_dist, Points, RankedBatch};
pub use kcenter::{kcenter_greedy, kmeans_pp_factored, FarthestFirst};
