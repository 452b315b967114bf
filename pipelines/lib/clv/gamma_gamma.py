"""Gamma-Gamma model of spend per transaction (Colombo & Jiang 1999; Fader, Hardie & Lee 2005,
"RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", *JMR* 42(4); notation of
Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value").

Each transaction of a customer is worth z ~ Gamma(p, ν), with the customer's scale ν ~ Gamma(q,
γ) across customers. The customer's mean m_x of x transactions is then Gamma(px, νx) and, with ν
integrated out, the likelihood of (m_x, x) is

    L = Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m_x^(px−1) · x^(px) / (γ + m_x x)^(px+q).

The model assumes spend is independent of purchase frequency (check the correlation; see
`ClvFit.spend_frequency_correlation`) and needs strictly positive m_x.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from pipelines.lib.clv.base import (
    FitResult,
    FloatArray,
    InsufficientDataError,
    as_float_array,
    compress_rows,
    index_unique,
    maximise_log_likelihood,
)

MODEL = "gamma_gamma"
PARAM_NAMES = ("p", "q", "gamma")


def log_likelihood(params: dict[str, float], x: object, m_x: object) -> FloatArray:
    """Per-customer log of the likelihood in the module docstring."""
    p, q, g = (params[k] for k in PARAM_NAMES)
    x, m = np.asarray(x, dtype=float), np.asarray(m_x, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


class _Objective:
    """Weighted mean negative log-likelihood and its gradient w.r.t. log-parameters:

    ∂/∂p = x [ψ(px+q) − ψ(px) + ln m_x + ln x − ln(γ + m_x x)]
    ∂/∂q = ψ(px+q) − ψ(q) + ln γ − ln(γ + m_x x)
    ∂/∂γ = q/γ − (px+q)/(γ + m_x x)
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.ux, self.ix = index_unique(x)
        self.x, self.w = x, w
        self.total = float(w.sum())
        self.log_mx = np.log(m) + np.log(x)
        self.mx = m * x
        self.wx = np.bincount(self.ix, weights=w, minlength=len(self.ux))
        self.w_log_m = float(np.dot(w, np.log(m)))

    def __call__(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = np.exp(log_params)
        ux, w = self.ux, self.w
        pux = p * ux
        log_g_mx = np.log(g + self.mx)
        px = p * self.x
        x_terms = gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(g)
        ll = np.dot(self.wx, x_terms) + np.dot(w, px * self.log_mx - (px + q) * log_g_mx)
        ll -= self.w_log_m  # the −ln m_x of (px − 1) ln m_x
        d_p = np.dot(self.wx, ux * (digamma(pux + q) - digamma(pux))) + np.dot(
            w, self.x * (self.log_mx - log_g_mx)
        )
        d_q = np.dot(self.wx, digamma(pux + q) - digamma(q)) + np.dot(w, np.log(g) - log_g_mx)
        d_g = self.total * q / g - np.dot(w, (px + q) / (g + self.mx))
        grad = np.array([d_p * p, d_q * q, d_g * g])
        return -float(ll) / self.total, -grad / self.total


def fit(
    frequency: object,
    monetary_value: object,
    weights: object | None = None,
    *,
    compress: bool = True,
    min_customers: int = 10,
) -> FitResult:
    """Maximum-likelihood Gamma-Gamma fit on customers with x > 0 and m_x > 0.

    Rows with x = 0 or m_x <= 0 are dropped here (the model describes positive amounts of
    observed repeat transactions); ``n_customers`` in the result counts the rows used. Raises
    `InsufficientDataError` below ``min_customers`` usable customers or when every m_x is the
    same (ν is then not identified).
    """
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if len(x) != len(m):
        raise ValueError("frequency and monetary_value must have the same length")
    w = np.ones(len(x)) if weights is None else as_float_array(weights, "weights")
    usable = (x > 0) & (m > 0)
    x, m, w = x[usable], m[usable], w[usable]
    n_customers = float(w.sum())
    if n_customers < min_customers:
        raise InsufficientDataError(
            f"Gamma-Gamma needs at least {min_customers} customers with a positive-value repeat "
            f"purchase; got {n_customers:.0f}"
        )
    if np.ptp(m) <= 1e-12 * max(float(m.max()), 1.0):
        raise InsufficientDataError("Gamma-Gamma needs variation in spend; all m_x are equal")
    if compress:
        packed = compress_rows(x, m, weights=w)
        x, m = packed.columns
        w = packed.weights
    objective = _Objective(x, m, w)
    mean_spend = float(np.dot(w, m) / w.sum())
    # p = 1, q = 2 and γ = mean spend put the population mean pγ/(q−1) at the sample mean
    report = maximise_log_likelihood(
        objective, [1.0, 2.0, mean_spend], PARAM_NAMES, objective.total
    )
    message = report.message
    converged = report.converged
    if report.params["q"] <= 1:
        converged = False
        message = (
            f"{message}; q <= 1: population mean spend pγ/(q−1) is infinite, "
            "conditional expectations fall back to observed means"
        )
    return FitResult(
        model=MODEL,
        params=report.params,
        log_likelihood=report.log_likelihood,
        converged=converged,
        message=message,
        n_customers=round(n_customers),
        n_rows_evaluated=len(x),
        iterations=report.iterations,
    )


def population_mean_spend(params: dict[str, float]) -> float:
    """E[Z] = pγ/(q−1), the expected spend per transaction of a customer we know nothing of."""
    p, q, g = (params[k] for k in PARAM_NAMES)
    return p * g / (q - 1) if q > 1 else float("nan")


def conditional_expected_spend(
    params: dict[str, float], frequency: object, monetary_value: object
) -> FloatArray:
    """E[Z | m_x, x] = (p(γ + m_x x)) / (px + q − 1), for x > 0.

    A credibility-weighted average of the population mean pγ/(q−1), weight (q−1)/(px+q−1), and
    the customer's own mean m_x. For x = 0 (or m_x <= 0: no usable spend) it is the population
    mean. If q <= 1 the population mean does not exist and the customer's own mean is used.
    """
    p, q, g = (params[k] for k in PARAM_NAMES)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    usable = (x > 0) & (m > 0)
    if q <= 1:
        fallback = np.where(usable, m, np.nan)
        return np.where(usable, m, np.nanmean(fallback) if usable.any() else np.nan)
    xx = np.where(usable, x, 0.0)
    mm = np.where(usable, m, 0.0)
    return p * (g + mm * xx) / (p * xx + q - 1)
