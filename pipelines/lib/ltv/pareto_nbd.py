"""Pareto/NBD model (Schmittlein, Morrison & Colombo 1987, *Management Science* 33(1)).

Purchases follow a Poisson process with rate λ ~ Gamma(r, α) while the customer is alive; the
unobserved lifetime is exponential with rate μ ~ Gamma(s, β). Unlike the BG/NBD, dropout can
happen at any time, including before the first repeat purchase. The likelihood, P(alive) and
conditional expectation are those of Fader & Hardie (2005), "A Note on Deriving the Pareto/NBD
Model and Related Expressions":

    L = Γ(r+x) α^r β^s / Γ(r) · { 1 / ((α+T)^(r+x) (β+T)^s) + s/(r+s+x) · A₀ }

with, for α ≥ β (the other case swaps the roles, see `_log_a0`),

    A₀ = ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+t_x)) / (α+t_x)^(r+s+x)
       − ₂F₁(r+s+x, s+1; r+s+x+1; (α−β)/(α+T))   / (α+T)^(r+s+x).

No analytic gradient is coded (derivatives of ₂F₁ in its parameters have no closed form), so
the fit uses central finite differences; it is an option, the BG/NBD is the default.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, exprel, gammaln, hyp2f1

from pipelines.lib.ltv.base import (
    FitResult,
    FloatArray,
    InsufficientDataError,
    as_float_array,
    compress_rows,
    dot,
    maximise_log_likelihood,
)

MODEL = "pareto_nbd"
PARAM_NAMES = ("r", "alpha", "s", "beta")


def _log_a0(params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray):
    """ln A₀, computed as ln(term at t_x) + log1p(−term at T / term at t_x); −inf if t_x = T."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES)
    rsx = r + s + x
    if alpha >= beta:
        big, b_param = alpha, s + 1.0
    else:
        big, b_param = beta, r + x
    diff = abs(alpha - beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1 = np.log(hyp2f1(rsx, b_param, rsx + 1, diff / (big + t_x))) - rsx * np.log(big + t_x)
        l2 = np.log(hyp2f1(rsx, b_param, rsx + 1, diff / (big + T))) - rsx * np.log(big + T)
        return l1 + np.log1p(-np.exp(np.minimum(l2 - l1, 0.0)))


def _log_terms(params: dict[str, float], x: FloatArray, t_x: FloatArray, T: FloatArray):
    """(ln of the 'alive at T' term, ln of the 's/(r+s+x) A₀' term), both inside the braces."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    with np.errstate(divide="ignore"):
        dead = np.log(s) - np.log(r + s + x) + _log_a0(params, x, t_x, T)
    return alive, dead


def log_likelihood(params: dict[str, float], x: object, t_x: object, T: object) -> FloatArray:
    """Per-customer log-likelihood (module docstring)."""
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES)
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    alive, dead = _log_terms(params, x, t_x, T)
    return (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        + np.logaddexp(alive, dead)
    )  # fmt: skip


def fit(
    frequency: object,
    recency: object,
    T: object,
    weights: object | None = None,
    *,
    compress: bool = True,
    min_customers: int = 30,
    min_repeat_customers: int = 5,
) -> FitResult:
    """Maximum-likelihood Pareto/NBD fit on unique (x, t_x, T) rows with weights."""
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    t_cal = as_float_array(T, "T")
    w = np.ones(len(x)) if weights is None else as_float_array(weights, "weights")
    n_customers = float(w.sum())
    n_repeat = float(w[x > 0].sum())
    if n_customers < min_customers or n_repeat < min_repeat_customers:
        raise InsufficientDataError(
            f"Pareto/NBD needs at least {min_customers} customers and {min_repeat_customers} "
            f"repeat customers; got {n_customers:.0f} and {n_repeat:.0f}"
        )
    if compress:
        packed = compress_rows(x, t_x, t_cal, weights=w)
        x, t_x, t_cal = packed.columns
        w = packed.weights
    total = float(w.sum())

    def objective(log_params: FloatArray) -> float:
        params = dict(zip(PARAM_NAMES, np.exp(log_params), strict=True))
        value = -dot(w, log_likelihood(params, x, t_x, t_cal)) / total
        return value if np.isfinite(value) else 1e300

    rate = float(dot(w, x) / max(dot(w, t_cal), 1e-9))
    mean_t = float(dot(w, t_cal) / total)
    start = [1.0, 1.0 / max(rate, 1e-6), 1.0, max(mean_t, 1e-3)]
    report = maximise_log_likelihood(objective, start, PARAM_NAMES, total, analytic_gradient=False)
    return FitResult(
        model=MODEL,
        params=report.params,
        log_likelihood=report.log_likelihood,
        converged=report.converged,
        message=report.message,
        n_customers=round(n_customers),
        n_rows_evaluated=len(x),
        iterations=report.iterations,
    )


def p_alive(params: dict[str, float], frequency: object, recency: object, T: object) -> FloatArray:
    """P(alive at T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A₀): the 'alive' term's share."""
    x, t_x, t_cal = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    alive, dead = _log_terms(params, x, t_x, t_cal)
    return expit(alive - dead)


def conditional_expected_purchases(
    params: dict[str, float], t: float, frequency: object, recency: object, T: object
) -> FloatArray:
    """E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)] · P(alive).

    With u = (s−1) ln((β+T+t)/(β+T)), the factor [1 − e^(−u)]/(s−1) is written as
    ln((β+T+t)/(β+T)) · e^(−u) · exprel(u), which stays finite at s = 1 (its limit).
    """
    r, alpha, s, beta = (params[k] for k in PARAM_NAMES)
    x, t_x, t_cal = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    log_ratio = np.log1p(t / (beta + t_cal))
    u = (s - 1) * log_ratio
    factor = log_ratio * np.exp(-u) * exprel(u)
    return (r + x) * (beta + t_cal) / (alpha + t_cal) * factor * p_alive(params, x, t_x, t_cal)
