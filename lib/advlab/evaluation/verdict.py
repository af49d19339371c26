"""The one rule by which every verdict of the course is reached: the chapters' and the report's.

Every accuracy is a count: ``k`` of ``n`` images classified correctly, with its 95% Wilson interval
(:func:`advlab.evaluation.stats.wilson`). The seed's accuracies are counts too, on the 10,000 MNIST
test images (its test loop runs over the whole test set); its example grids, on 10 images.

- **A number against the seed's**: *agree* when the two 95% intervals overlap, *disagree* when they
  do not.
- **"A above B"** (two of our numbers, as the seed ranks them): *agree* when A's interval lies wholly
  above B's; *partly* when A's count is higher but the intervals overlap (the direction holds, within
  sampling error); *disagree* when A's count is not higher (equal, 0 against 0 included, or lower).
- **An eps claim** ("the curves meet at eps", "the steepest fall", "no further loss beyond eps") is
  judged on a *bracket*: the two neighbouring eps of our sweep between which the property the claim
  names sets in, read from the same intervals. Two curves are *apart* at an eps where their intervals
  are separate and *meet* where they overlap; one is *above* the other where its interval lies wholly
  above; a curve's steepest fall is every step whose fall could be the largest within the intervals; a
  curve is *flat* from an eps on when the interval at every later eps overlaps the one there. *Agree*
  when the seed's eps lies in our bracket (ends included); *disagree* when it does not, or when the
  property never sets in within our sweep.
- **A claim of several parts**: *agree* when every part agrees, *disagree* when every part disagrees,
  *partly* otherwise, naming the parts that do not agree.
- **Not comparable in this profile**: the claim depends on what the profile shrinks (a training loss
  after 50 epochs on 360,000 images, against a profile's few epochs on a smaller set). A training loss
  is not a count of images: with the seed's epochs, ours agrees when it lies within a factor 2 of the
  seed's at both ends, and an order of two losses agrees when it holds.
- **Not measured**: the run recorded no numbers for the claim. **Explained**: the claim cannot be
  measured at all (it is a description or an explanation, not a result); one sentence says why.
"""

from __future__ import annotations

from dataclasses import dataclass

from advlab.evaluation.stats import count, wilson

AGREE, PARTLY, DISAGREE = "agree", "partly", "disagree"
NOT_COMPARABLE, NOT_MEASURED, EXPLAINED = "not comparable in this profile", "not measured", "explained"
VERDICTS = (AGREE, PARTLY, DISAGREE, NOT_COMPARABLE, NOT_MEASURED, EXPLAINED)
SEED_TEST_IMAGES = 10000  # the seed's accuracies: the whole MNIST test set
SEED_GRID_IMAGES = 10  # the seed's example grids: ten images of one class
SEED_EPOCHS = 50
LOSS_FACTOR = 2.0

RULE = (
    "Every accuracy is a count of images with its 95% Wilson interval; the seed's are counts of the 10,000 "
    "test images (its grids: of 10). A number against the seed's: agree when the two intervals overlap, "
    "disagree when they do not. \u201cA above B\u201d: agree when A's interval lies wholly above B's, partly when "
    "A's count is higher but the intervals overlap, disagree when it is not higher (0 against 0 included). "
    "An eps claim: agree when the seed's eps lies in our bracket, the two neighbouring eps of our sweep "
    "between which the property sets in (curves apart where their intervals are separate, meeting where "
    "they overlap). Several parts: agree when all agree, disagree when all disagree, partly otherwise. "
    "Not comparable in this profile: the claim depends on what the profile shrinks (epochs, set sizes)."
)


@dataclass(frozen=True)
class Count:
    """``k`` of ``n`` images; ``exact`` marks a fixed share (a threshold such as one half), not a sample."""

    k: float
    n: int
    exact: bool = False

    @classmethod
    def of(cls, acc: float, n: int) -> Count:
        """The count behind an accuracy ``acc`` measured on ``n`` images."""
        return cls(count(acc, n), int(n))

    @classmethod
    def seed(cls, acc: float, n: int = SEED_TEST_IMAGES) -> Count:
        """One of the seed's accuracies, as a count of its ``n`` images."""
        return cls.of(acc, n)

    @classmethod
    def share(cls, p: float) -> Count:
        """A fixed share (no sampling error): its interval is the point ``p``."""
        return cls(p, 1, exact=True)

    @property
    def p(self) -> float:
        return self.k / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return (self.p, self.p) if self.exact else wilson(int(self.k), self.n)

    def text(self) -> str:
        if self.exact:
            return f"{100 * self.p:g}%"
        lo, hi = self.interval
        return f"{100 * self.p:.1f}% ({100 * lo:.1f}-{100 * hi:.1f}, {self.n:,} images)"


def overlap(a: Count, b: Count) -> bool:
    """Do the two 95% intervals overlap?"""
    (a_lo, a_hi), (b_lo, b_hi) = a.interval, b.interval
    return a_lo <= b_hi and b_lo <= a_hi


def wholly_above(a: Count, b: Count) -> bool:
    return a.interval[0] > b.interval[1]


def versus_seed(ours: Count, seed: Count) -> str:
    """Our number against the seed's: agree when the intervals overlap."""
    return AGREE if overlap(ours, seed) else DISAGREE


def above(a: Count, b: Count) -> str:
    """ "A above B": agree when A's interval lies wholly above B's; partly when A's count (share) is
    higher but the intervals overlap; disagree when it is not higher."""
    if wholly_above(a, b):
        return AGREE
    return PARTLY if a.p > b.p else DISAGREE


def combine(parts: list[tuple[str, str]]) -> tuple[str, list[str]]:
    """The verdict of a claim of several ``(name, verdict)`` parts, and the names of the parts that do
    not agree. Parts not measured are left out; none measured: not measured."""
    judged = [(name, v) for name, v in parts if v in (AGREE, PARTLY, DISAGREE)]
    if not judged:
        return NOT_MEASURED, []
    failing = [name for name, v in judged if v != AGREE]
    if not failing:
        return AGREE, []
    if all(v == DISAGREE for _, v in judged):
        return DISAGREE, failing
    return PARTLY, failing


def in_bracket(seed_eps: float, bracket: tuple[float, float] | None) -> str:
    """Agree when the seed's eps lies in our bracket (ends included); no bracket: disagree."""
    if bracket is None:
        return DISAGREE
    lo, hi = bracket
    return AGREE if lo - 1e-9 <= seed_eps <= hi + 1e-9 else DISAGREE


def onset(eps: list[float], holds: list[bool], after: int = 0) -> tuple[float, float] | None:
    """The bracket where a property sets in: ``(eps[j - 1], eps[j])`` for the first ``j > after`` at
    which it holds while it did not at ``j - 1``; None when it never sets in."""
    for j in range(max(after, 0) + 1, len(eps)):
        if holds[j] and not holds[j - 1]:
            return eps[j - 1], eps[j]
    return None


def meet_bracket(eps: list[float], a: list[Count], b: list[Count]) -> tuple[float, float] | None:
    """Where two curves meet: the first eps, after they have been apart, at which their intervals overlap."""
    meets = [overlap(x, y) for x, y in zip(a, b)]
    first_apart = next((i for i, m in enumerate(meets) if not m), None)
    return None if first_apart is None else onset(eps, meets, first_apart)


def overtake_bracket(eps: list[float], a: list[Count], b: list[Count]) -> tuple[float, float] | None:
    """Where ``a`` overtakes ``b`` for good: the first eps from which ``a`` lies wholly above ``b`` at
    every later eps, and the eps before it; None when it never does (or does from the first eps)."""
    good = [all(wholly_above(x, y) for x, y in zip(a[j:], b[j:])) for j in range(len(eps))]
    return onset(eps, good)


def steepest_bracket(eps: list[float], acc: list[Count]) -> tuple[float, float] | None:
    """The steepest fall of a curve: every step whose fall could be the largest within the intervals
    (its largest possible fall at least the smallest possible fall of the largest step), spanned."""
    if len(eps) < 2:
        return None
    steps = range(len(eps) - 1)
    drop = [acc[i].p - acc[i + 1].p for i in steps]
    most = max(steps, key=lambda i: drop[i])
    least_of_most = acc[most].interval[0] - acc[most + 1].interval[1]
    could = [i for i in steps if acc[i].interval[1] - acc[i + 1].interval[0] >= least_of_most]
    return eps[min(could)], eps[max(could) + 1]


def flat_from(eps: list[float], acc: list[Count]) -> tuple[float, float] | None:
    """Where a curve becomes flat: the first eps whose interval overlaps the interval at every later eps
    (no further fall or rise beyond sampling error), and the eps before it."""
    flat = [all(overlap(acc[j], x) for x in acc[j + 1 :]) for j in range(len(eps))]
    return onset(eps, flat)


def bracket_text(bracket: tuple[float, float] | None, what: str) -> str:
    return f"{what} between eps {bracket[0]:g} and {bracket[1]:g}" if bracket else f"{what} nowhere in our sweep"


def loss_verdict(ours: tuple[float, float], seed: tuple[float, float], epochs: int) -> str:
    """A training loss at its first and last epoch against the seed's: not comparable under the seed's
    epochs; otherwise agree when both ends are within a factor :data:`LOSS_FACTOR`."""
    if epochs < SEED_EPOCHS:
        return NOT_COMPARABLE
    ok = all(s > 0 and v > 0 and 1 / LOSS_FACTOR <= v / s <= LOSS_FACTOR for v, s in zip(ours, seed))
    return AGREE if ok else DISAGREE
