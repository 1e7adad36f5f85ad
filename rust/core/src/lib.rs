//! pseudolabel-core: the selection kernels of pseudolabel, in plain Rust.
//!
//! Every kernel reads a probability matrix (N rows x C classes, `f32` or `f64`, any
//! layout; C-contiguous input is read in place) in one multi-threaded pass:
//! - [`summarize`]: argmax, confidence, margin, entropy, class counts and means;
//! - [`select`]: threshold, per-class and global top-k selection, best first;
//! - [`quantile`]: exact quantiles of confidence;
//! - [`reduce_candidates`]: the merge step of a streaming top-k.
//!
//! Results never depend on the number of threads; ties go to the lower row index.
//! There is no PyO3 here: `rust/python` is the thin binding layer.

pub mod alloc;
pub mod block;
pub mod error;
pub mod float;
pub mod quantile;
pub mod scan;
pub mod select;
pub mod summarize;
pub mod threads;

pub use error::{KernelError, Result, ValueProblem};
pub use float::Prob;
pub use quantile::quantile;
pub use scan::{Matrix, Score};
pub use select::{reduce_candidates, select, select_cands, Cand, SelectParams, Selection, Threshold};
pub use summarize::{summarize, Summary};
pub use threads::{get_num_threads, set_num_threads, ENV_NUM_THREADS};
