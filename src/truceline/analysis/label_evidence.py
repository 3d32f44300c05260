"""Do an acoustic event's labels speak for a real source or for a chance coincidence?

Among frequent false detections (gusts, vehicles, a faulty sensor), three or four arrays
will now and then hold onsets that happen to fit one position: a chance source. Its timing
fits as well as a real one (that is how it was found), but its labels do not agree: each
false onset carries whatever label its detector gave, while the arrays that hear one real
launch mostly call it a launch. On the independent generator at 60 false detections per
array-hour, events of 3-4 arrays that matched nothing had only half their labels agreeing
with their type; real ones of the same size, all of them.

So the weak events (few arrays, where chance is plausible) are weighed as a two-component
mixture, both components measured on the same data, nothing assumed about a sensor maker:

- *real*: a member's label is the source's kind, "unknown" or the other kind with the
  shares seen on the well-heard events (>= `STRONG_MIN_ARRAYS` arrays), which are surely real;
- *chance*: labels drawn like those of the detections no source explains.

The share of real sources among the weak events is estimated from their labels (EM over one
parameter), so in a clean scene (few chance fits) nearly nothing is dropped and in a
cluttered one the events whose labels look more like clutter than like a source are. A
network whose detectors do not label (all "unknown") gives likelihood ratio 1 and drops
nothing. Events a radar track confirms are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRONG_MIN_ARRAYS = 6  # events this well heard are surely real: they measure label confusion
WEAK_MAX_ARRAYS = 5  # events this small can be chance coincidences of false detections
MIN_STRONG = 20  # fewer strong events: confusion not measured, nothing dropped
MIN_UNEXPLAINED = 30  # fewer unexplained detections: clutter labels not measured, nothing dropped
MIN_POSTERIOR = 0.5  # a weak event is kept when P(real | labels) is at least this
FOREIGN_MEMBER = 0.2  # share of a weak real event's members that may be other sources' onsets
# (measured on strong events, labels are cleaner than on weak ones, where overlapping
# sources and a launch heard with its own impact lend members)
PRIOR_REAL = 8.0  # pseudo-events presumed real in the share's estimate: a fit that passed the
# timing tests is a source until labels of many weak events say otherwise (a handful of
# mixed-label events in a clean scene must not make every weak event suspect)


@dataclass(frozen=True)
class LabelModel:
    """Label shares (same kind, other kind, unknown) for a real source; (launch, impact,
    unknown) for a chance detection; the share of launches among real sources."""

    real: tuple[float, float, float]
    chance: tuple[float, float, float]
    launch_share: float = 0.5


def fit_label_model(strong_votes: np.ndarray, unexplained_counts: np.ndarray) -> LabelModel | None:
    """The model from the (E,3) launch/impact/unknown votes of strong events and the label
    counts of unexplained detections (add-one smoothed); None when either is too thin."""
    v = np.asarray(strong_votes, float).reshape(-1, 3)
    u = np.asarray(unexplained_counts, float).reshape(3)
    if len(v) < MIN_STRONG or u.sum() < MIN_UNEXPLAINED:
        return None
    kind = np.argmax(v[:, :2], axis=1)
    same = v[np.arange(len(v)), kind].sum()
    other = v[np.arange(len(v)), 1 - kind].sum()
    unknown = v[:, 2].sum()
    real = np.array([same, other, unknown]) + 1.0
    chance = u + 1.0
    launch_share = (float(np.sum(kind == 0)) + 1.0) / (len(v) + 2.0)
    return LabelModel(real=tuple(real / real.sum()), chance=tuple(chance / chance.sum()), launch_share=launch_share)


def likelihood_ratio(votes: np.ndarray, model: LabelModel, foreign: float = FOREIGN_MEMBER) -> np.ndarray:
    """log P(labels | real source) - log P(labels | chance), per row of (E,3) votes; a real
    source is a launch or an impact with the measured shares, and a share `foreign` of its
    members may be other sources' onsets."""
    v = np.asarray(votes, float).reshape(-1, 3)
    q = np.asarray(model.chance, float)
    same, other, unknown = model.real
    # a member is, with odds `foreign`, another source's onset, labelled like clutter
    launch = np.log((1.0 - foreign) * np.array([same, other, unknown]) + foreign * q)
    impact = np.log((1.0 - foreign) * np.array([other, same, unknown]) + foreign * q)
    real_launch = v @ launch
    real_impact = v @ impact
    w = np.clip(model.launch_share, 1e-6, 1 - 1e-6)
    real = np.logaddexp(np.log(w) + real_launch, np.log1p(-w) + real_impact)
    return real - v @ np.log(q)


def real_posterior(log_lr: np.ndarray, prior_real: float = PRIOR_REAL, iterations: int = 200) -> np.ndarray:
    """P(real | labels) of each weak event, with the share of real ones among them estimated
    by EM from the same likelihood ratios (maximum a posteriori, with `prior_real`
    pseudo-events presumed real)."""
    lr = np.exp(np.clip(np.asarray(log_lr, float), -50.0, 50.0))
    pi = 0.5
    for _ in range(iterations):
        r = pi * lr / (pi * lr + 1.0 - pi)
        new = float(np.clip((r.sum() + prior_real) / (len(r) + prior_real), 0.01, 0.99))
        if abs(new - pi) < 1e-6:
            pi = new
            break
        pi = new
    return pi * lr / (pi * lr + 1.0 - pi)
