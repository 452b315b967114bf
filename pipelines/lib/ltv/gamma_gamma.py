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

from pipelines.lib.ltv.base import (
    FitResult,
    FloatArray,
    InsufficientDataError,
    as_float_array,
    compress_rows,
    dot,
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

    Everything but ln(γ + m_x x) and its reciprocal is either a function of x alone (summed
    over distinct x) or a constant of the data, so an evaluation is one pass over the rows,
    done in a preallocated buffer.
    """

    def __init__(self, x: FloatArray, m: FloatArray, w: FloatArray) -> None:
        self.ux, ix = index_unique(x)
        self.w = w
        self.wx = w * x
        self.total = float(w.sum())
        self.mx = m * x
        self.w_x = np.bincount(ix, weights=w, minlength=len(self.ux))  # weight per distinct x
        log_mx = np.log(self.mx)
        self.s_log_mx = dot(self.wx, log_mx)  # Σ w x ln(m_x x)
        self.s_log_m = dot(w, np.log(m))  # Σ w ln m_x
        self.buffer = np.empty(len(x))

    def __call__(self, log_params: FloatArray) -> tuple[float, FloatArray]:
        p, q, g = np.exp(log_params)
        ux, w_x, buf = self.ux, self.w_x, self.buffer
        pux = p * ux
        np.add(self.mx, g, out=buf)
        np.log(buf, out=buf)
        s_wx_log = dot(self.wx, buf)  # Σ w x ln(γ + m_x x)
        s_w_log = dot(self.w, buf)  # Σ w ln(γ + m_x x)
        np.add(self.mx, g, out=buf)
        np.reciprocal(buf, out=buf)
        s_wx_inv = dot(self.wx, buf)
        s_w_inv = dot(self.w, buf)
        x_terms = gammaln(pux + q) - gammaln(pux) - gammaln(q) + q * np.log(g)
        # (px − 1) ln m_x + px ln x = p·x ln(m_x x) − ln m_x
        ll = (
            dot(w_x, x_terms) + p * self.s_log_mx - self.s_log_m
            - p * s_wx_log - q * s_w_log
        )  # fmt: skip
        d_p = dot(w_x, ux * (digamma(pux + q) - digamma(pux))) + self.s_log_mx - s_wx_log
        d_q = dot(w_x, digamma(pux + q) - digamma(q)) + self.total * np.log(g) - s_w_log
        d_g = self.total * q / g - p * s_wx_inv - q * s_w_inv
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
    mean_spend = float(dot(w, m) / w.sum())
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
