"""Project-wide test settings.

BLAS runs single-threaded: on a 2-core machine OpenBLAS threads make the many small
scikit-learn fits of the suite far slower, and single-threaded results are reproducible.
The environment variables reach subprocesses (CLI tests) too. The Rust kernels keep their
own pool (``PSEUDOLABEL_NUM_THREADS``) and are unaffected.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from threadpoolctl import threadpool_limits  # noqa: E402

_BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")
