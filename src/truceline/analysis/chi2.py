"""Chi-square and normal tails for the analysis' tests, from `scipy.special`.

`scipy.stats` computes the same functions through these, but importing it costs about a
second per process, paid by every `truceline analyze` run; `scipy.special` loads in
milliseconds."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, chdtri, ndtr


def isf(p, dof):
    """Upper-tail quantile: the chi-square value exceeded with probability `p` at `dof`."""
    return chdtri(np.asarray(dof, float), p)


def sf(x, dof):
    """Upper-tail probability of the chi-square value `x` at `dof`."""
    return chdtrc(np.asarray(dof, float), x)


def normal_cdf(z):
    """Standard normal cumulative distribution."""
    return ndtr(z)
