"""One row at a time through LightGBM's FastConfig C API: the same trees, without the set-up.

    predictor = SingleRowPredictor.build(booster, sample_rows)   # None if it cannot be trusted
    predictor.contributions(row)                                 # == booster.predict(pred_contrib)
    predictor.margin(row)                                        # == booster.predict(raw_score)

`booster.predict` on one row spends most of its time before the trees are walked: Python
argument handling, then a predictor built and dropped inside LightGBM on every call (about
20-30 µs of a 25-50 µs call for the champions). LGBM_BoosterPredictForMatSingleRowFast keeps
that predictor between calls. The predictor walks its own copy of the booster: LightGBM guards
single-row predictions with an exclusive lock on the booster, which would make a request on
the event loop wait for any batch prediction (a population, a thousand-child request in the
thread pool) running on the champion meanwhile. Calls on the copy are still safe from several
threads; they take turns.

`build` checks the predictor against `booster.predict` on sample rows and returns None unless
every contribution and every margin is bit-for-bit the same; callers then keep using
`booster.predict`. Its FastConfig handles are freed when it is garbage collected.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import weakref
from typing import Final

import lightgbm as lgb
import numpy as np

__all__ = ["SingleRowPredictor"]

_log = logging.getLogger(__name__)

# c_api.h
_PREDICT_RAW_SCORE: Final = 1
_PREDICT_CONTRIB: Final = 3
_DTYPE_FLOAT64: Final = 1
# No num_threads: FastInit would apply it process-wide (omp_set_num_threads), and one row is
# walked on the calling thread whatever it says.
_PARAMETERS: Final = b""


@functools.cache
def _lib() -> ctypes.CDLL:
    """LightGBM's library with prototypes for the calls used here.

    A handle of our own onto the library LightGBM already loaded, so that declaring argument
    types does not change the functions LightGBM's own module calls.
    """
    lib = ctypes.CDLL(lgb.basic._LIB._name)
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    lib.LGBM_BoosterPredictForMatSingleRowFastInit.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int32,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    lib.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_void_p,
    ]
    lib.LGBM_FastConfigFree.argtypes = [ctypes.c_void_p]
    return lib


def _check(lib: ctypes.CDLL, code: int) -> None:
    if code != 0:
        raise lgb.basic.LightGBMError(lib.LGBM_GetLastError().decode("utf-8", "replace"))


def _free(lib: ctypes.CDLL, handles: list[ctypes.c_void_p]) -> None:
    for handle in handles:
        lib.LGBM_FastConfigFree(handle)
    handles.clear()


class SingleRowPredictor:
    """Contributions and margins of one booster, one float64 row per call (see the module)."""

    def __init__(self, booster: lgb.Booster) -> None:
        lib = _lib()
        self._lib = lib
        self._call = lib.LGBM_BoosterPredictForMatSingleRowFast
        # A copy: its lock is taken by single-row calls only (see the module docstring).
        self._booster = lgb.Booster(model_str=booster.model_to_string())
        # One output per row (and n_features + 1 contributions): the buffers are sized so.
        if self._booster.num_model_per_iteration() != 1:
            raise ValueError("only models with one output per row (binary, regression)")
        self.n_features = int(self._booster.num_feature())
        handles: list[ctypes.c_void_p] = []
        self._finalizer = weakref.finalize(self, _free, lib, handles)
        self._contrib = self._init(_PREDICT_CONTRIB, handles)
        self._raw = self._init(_PREDICT_RAW_SCORE, handles)

    def _init(self, predict_type: int, handles: list[ctypes.c_void_p]) -> ctypes.c_void_p:
        handle = ctypes.c_void_p()
        _check(
            self._lib,
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                self._booster._handle,
                predict_type,
                0,
                -1,
                _DTYPE_FLOAT64,
                self.n_features,
                _PARAMETERS,
                ctypes.byref(handle),
            ),
        )
        handles.append(handle)
        return handle

    @classmethod
    def build(cls, booster: lgb.Booster, sample: np.ndarray) -> SingleRowPredictor | None:
        """A predictor for `booster`, or None when it does not reproduce `booster.predict`
        exactly on every row of `sample` (float64, the booster's columns)."""
        try:
            predictor = cls(booster)
            rows = np.ascontiguousarray(sample, dtype=np.float64)
            expected_contributions = np.asarray(
                booster.predict(rows, pred_contrib=True, num_threads=1)
            )
            expected_margins = np.asarray(booster.predict(rows, raw_score=True, num_threads=1))
            contributions = np.vstack([predictor.contributions(row) for row in rows])
            margins = np.array([predictor.margin(row) for row in rows])
        except (lgb.basic.LightGBMError, AttributeError, OSError, ValueError) as error:
            _log.warning("single-row predictions unavailable, booster.predict used: %s", error)
            return None
        if not (
            np.array_equal(contributions, expected_contributions)
            and np.array_equal(margins, expected_margins)
        ):
            _log.warning("single-row predictions differ from booster.predict; not used")
            predictor.close()
            return None
        return predictor

    def _row(self, row: np.ndarray) -> np.ndarray:
        if row.dtype != np.float64 or not row.flags.c_contiguous:
            row = np.ascontiguousarray(row, dtype=np.float64)
        if row.shape != (self.n_features,):
            raise ValueError(f"a row of {self.n_features} features, not {row.shape}")
        return row

    def _predict(
        self, handle: ctypes.c_void_p, row: np.ndarray, out: np.ndarray, width: int
    ) -> None:
        if not self._finalizer.alive:
            raise ValueError("the predictor was closed")
        if out.shape != (width,):
            raise ValueError(f"room for {width} values needed, not {out.shape}")
        length = ctypes.c_int64()
        # Held in a name while LightGBM reads it: a converted copy must outlive the call.
        contiguous = self._row(row)
        address = contiguous.ctypes.data
        _check(self._lib, self._call(handle, address, ctypes.byref(length), out.ctypes.data))
        if length.value != width:
            raise ValueError(f"LightGBM wrote {length.value} values, not {width}")

    def contributions(self, row: np.ndarray) -> np.ndarray:
        """pred_contrib of one row: each feature's contribution, then the bias."""
        out = np.empty(self.n_features + 1, dtype=np.float64)
        self._predict(self._contrib, row, out, self.n_features + 1)
        return out

    def contributions_into(self, row: np.ndarray, out: np.ndarray) -> None:
        """`contributions` written into `out` (float64, contiguous, n_features + 1)."""
        if out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError("out must be a contiguous float64 array")
        self._predict(self._contrib, row, out, self.n_features + 1)

    def margin(self, row: np.ndarray) -> float:
        """The raw score (log-odds) of one row."""
        out = np.empty(1, dtype=np.float64)
        self._predict(self._raw, row, out, 1)
        return float(out[0])

    def close(self) -> None:
        """Free the FastConfig handles now (otherwise when garbage collected)."""
        self._finalizer()
