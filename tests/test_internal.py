"""The package-internal helpers (``v1_orientation._internal``): thread limits are restored."""

import threadpoolctl

from v1_orientation._internal import _single_threaded


def test_single_threaded_blas_is_restored_afterwards():
    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info()
                if p["user_api"] == "blas"]

    before = blas_threads()
    for _ in range(2):  # the second use reuses the pools found by the first
        with _single_threaded():
            assert blas_threads() and set(blas_threads()) == {1}
        assert blas_threads() == before
