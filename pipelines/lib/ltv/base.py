"""Shared pieces of the CLV models: result types, row compression and the optimiser wrapper.

Every model here is fitted the same way: maximise the analytic log-likelihood over the
*logarithms* of the (strictly positive) parameters, so the optimiser works unconstrained in the
interior and the box bounds only exist to detect a parameter running off to 0 or infinity — the
usual symptom of data the model cannot identify (nobody churns, everybody spends the same, ...).

The objective is the weighted mean negative log-likelihood over the *unique* rows of the
sufficient statistics with integer weights (how many customers share them). The likelihood of a
customer depends on nothing but those statistics (BG/NBD: x, t_x, T; Gamma-Gamma: x, m_x), so
this is exactly the same function as the sum over all customers, only cheaper.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

#: Parameters are kept in [1e-6, 1e6]: beyond that the special functions lose precision and a
#: parameter that wants to go further is not identified by the data anyway.
LOG_BOUND = float(np.log(1e6))

FloatArray = np.ndarray


class InsufficientDataError(ValueError):
    """The population is too small (or too uniform) to fit the model; use a fallback instead."""


@dataclass(frozen=True)
class FitResult:
    """A fitted model: its parameters plus what the optimiser had to say about them.

    ``converged`` is False when scipy reported failure, when the gradient at the optimum is not
    ~0, or when a parameter sits on its bound (i.e. the MLE is at 0 or infinity). The parameters
    are still the best ones found, so the caller decides whether to use them.
    """

    model: str
    params: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str
    n_customers: int
    n_rows_evaluated: int
    iterations: int

    def __getitem__(self, name: str) -> float:
        return self.params[name]

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable view (plain floats, ints, bools and strings)."""
        return {
            **{k: _json_float(v) for k, v in self.params.items()},
            "log_likelihood": _json_float(self.log_likelihood),
            "converged": bool(self.converged),
            "message": self.message,
            "n_customers": int(self.n_customers),
            "n_rows_evaluated": int(self.n_rows_evaluated),
            "iterations": int(self.iterations),
        }


def _json_float(value: float) -> float | None:
    """JSON has no NaN/inf: those become null."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True)
class Compressed:
    """Unique rows of some columns, how many input rows each stands for, and the way back."""

    columns: tuple[FloatArray, ...]
    weights: FloatArray
    inverse: np.ndarray

    @property
    def n_rows(self) -> int:
        return len(self.weights)


def compress_rows(*columns: FloatArray, weights: FloatArray | None = None) -> Compressed:
    """Collapse identical rows, summing their weights (1 each by default).

    Hash-based (a pandas groupby without sorting), which is what makes a million members
    cheap. Groups are numbered in order of first appearance, so the first row of each unique
    row is where the running maximum of the group numbers steps up.
    """
    n = len(columns[0])
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    arrays = tuple(np.asarray(c, dtype=float) for c in columns)
    if n == 0:
        return Compressed(arrays, w, np.zeros(0, dtype=np.int64))
    frame = pd.DataFrame({f"c{i}": c for i, c in enumerate(arrays)})
    inverse = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
    running_max = np.maximum.accumulate(inverse)
    first = np.flatnonzero(np.r_[True, running_max[1:] > running_max[:-1]])
    summed = np.bincount(inverse, weights=w, minlength=len(first))
    return Compressed(tuple(c[first] for c in arrays), summed, inverse)


def dot(a: FloatArray, b: FloatArray) -> float:
    """Inner product without BLAS.

    ``np.dot`` hands long vectors to a multi-threaded BLAS whose threads spin-wait when the
    machine is busy (a nightly job never has it to itself), turning a 0.02 ms product into
    several ms and making results depend on the thread split. einsum's own loop is slower in
    the best case but predictable and bit-for-bit deterministic.
    """
    return float(np.einsum("i,i->", a, b))


def index_unique(values: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """(unique values, index of each value into them): lets x-only terms be computed once per x."""
    inverse, uniques = pd.factorize(np.asarray(values, dtype=float))
    return np.asarray(uniques, dtype=float), inverse


@dataclass(frozen=True)
class OptimumReport:
    """Outcome of `maximise_log_likelihood`, in natural (not log) parameters."""

    params: dict[str, float]
    log_likelihood: float
    converged: bool
    message: str
    iterations: int


def maximise_log_likelihood(
    neg_mean_ll: Callable[[FloatArray], tuple[float, FloatArray] | float],
    x0: Sequence[float],
    names: Sequence[str],
    total_weight: float,
    *,
    analytic_gradient: bool = True,
    gradient_tolerance: float = 1e-5,
) -> OptimumReport:
    """Minimise a mean negative log-likelihood over log-parameters with L-BFGS-B.

    ``neg_mean_ll`` takes log-parameters and returns the objective (and its gradient w.r.t. the
    log-parameters when ``analytic_gradient``). The objective is a *mean* so that the tolerances
    do not depend on the number of customers.
    """
    log_x0 = np.clip(np.log(np.asarray(x0, dtype=float)), -LOG_BOUND + 1, LOG_BOUND - 1)
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)
    jac: bool | str = True if analytic_gradient else "3-point"
    with np.errstate(all="ignore"):
        result = minimize(
            neg_mean_ll,
            log_x0,
            jac=jac,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
    params = {name: float(np.exp(v)) for name, v in zip(names, result.x, strict=True)}
    objective = float(result.fun)
    problems: list[str] = []
    if not result.success:
        problems.append(f"optimiser stopped: {result.message}")
    if not np.isfinite(objective):
        problems.append("log-likelihood is not finite at the optimum")
    at_bound = [n for n, v in zip(names, result.x, strict=True) if abs(v) >= LOG_BOUND - 1e-6]
    if at_bound:
        problems.append(
            "parameter(s) at the bound (MLE at 0 or infinity; the data cannot identify them): "
            + ", ".join(at_bound)
        )
    if analytic_gradient and np.isfinite(objective):
        grad = np.asarray(result.jac, dtype=float)
        free = np.abs(result.x) < LOG_BOUND - 1e-6
        if free.any() and np.max(np.abs(grad[free])) > gradient_tolerance:
            problems.append(
                f"gradient not ~0 at the optimum (max |g| = {np.max(np.abs(grad)):.2g})"
            )
    return OptimumReport(
        params=params,
        log_likelihood=-objective * total_weight,
        converged=not problems,
        message="; ".join(problems) if problems else "converged",
        iterations=int(result.nit),
    )


def as_float_array(values: object, name: str) -> FloatArray:
    """Coerce to a 1-D float array and refuse NaN/inf early, with the offending column named."""
    array = np.asarray(values, dtype=float).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array
