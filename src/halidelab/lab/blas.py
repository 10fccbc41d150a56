"""Small dense linear algebra on one BLAS thread.

The fits in lab/ solve many small systems (a few dozen parameters): with several BLAS
threads fighting over a busy machine's cores they run 10-100x slower (measured on a
shared 2-core box: a 182x182 solve 70 ms threaded vs 0.6 ms on one thread; an SVD of a
1120x46 Jacobian 1.6 s under load).
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def one_blas_thread():
    """Run the enclosed block with BLAS limited to one thread (threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
