"""The measures behind the scorecard (``advlab.course.scorecard``): each reads our numbers for one
claim of ``advlab.course.claims`` under one threat model from a results dict (one notebook's, or the
report's merged results) and judges them by the one rule of ``advlab.evaluation.verdict``. Each returns
``{"verdict", "text", "failing"}`` (``failing``: the parts that do not agree), or None when the
numbers were not recorded. ``MEASURES`` maps a claim's ``measure`` to its function."""

from __future__ import annotations

from advlab.course.registry import label
from advlab.evaluation import sanity
from advlab.evaluation.results import fgsm_on_pgd_images, find_curve, n_images, pct
from advlab.evaluation.verdict import (
    AGREE,
    DISAGREE,
    EXPLAINED,
    NOT_COMPARABLE,
    NOT_MEASURED,
    SEED_EPOCHS,
    SEED_GRID_IMAGES,
    Count,
    above,
    bracket_text,
    combine,
    flat_from,
    in_bracket,
    loss_verdict,
    meet_bracket,
    overlap,
    overtake_bracket,
    steepest_bracket,
    versus_seed,
)

SEED_GRID = Count(SEED_GRID_IMAGES, SEED_GRID_IMAGES)


def _out(verdict: str, text: str, failing=()) -> dict:
    return {"verdict": verdict, "text": text, "failing": list(failing)}


def _judged(parts: list[tuple[str, str]], text: str) -> dict:
    verdict, failing = combine(parts)
    return _out(verdict, text, failing)


def _counts(c: dict | None) -> dict | None:
    """``{eps: Count}`` of a recorded curve (None without it or its number of images)."""
    n = n_images(c)
    if not c or not n:
        return None
    return {round(float(e), 6): Count.of(a, n) for e, a in zip(c["eps"], c["acc"])}


def _curve(results, model, attack, threat) -> dict | None:
    return _counts(find_curve(results, model, attack, threat))


def _series(curve: dict) -> tuple[list[float], list[Count]]:
    eps = sorted(curve)
    return eps, [curve[e] for e in eps]


def _pcts(counts) -> str:
    return "/".join(f"{100 * c.p:.1f}" for c in counts) + "%"


# --- measures ---------------------------------------------------------------------------------------------


def clean_vs_seed(results, threat, model, seed):
    m = results.get("models", {}).get(model)
    if not m or m.get("clean_acc") is None:
        return None
    ours = Count.of(m["clean_acc"], m.get("n_images") or 10000)
    return _out(versus_seed(ours, Count.seed(seed)), ours.text())


def at_eps_vs_seed(results, threat, model, attack, points):
    curve = _curve(results, model, attack, threat)
    if curve is None:
        return None
    parts, texts = [], []
    for e, s in points:
        c = curve.get(round(e, 6))
        parts.append((f"eps {e:g}", NOT_MEASURED if c is None else versus_seed(c, Count.seed(s))))
        texts += [] if c is None else [f"eps {e:g}: {c.text()}"]
    return _judged(parts, "; ".join(texts))


def steepest(results, threat, model, attack, seed_eps):
    curve = _curve(results, model, attack, threat)
    if curve is None:
        return None
    b = steepest_bracket(*_series(curve))
    text = bracket_text(b, "steepest fall")
    if b:
        text += f" ({pct(curve[round(b[0], 6)].p)} to {pct(curve[round(b[1], 6)].p)})"
    return _out(in_bracket(seed_eps, b), text)


def plateau(results, threat, model, attack, from_eps, seed):
    curve = _curve(results, model, attack, threat)
    later = [c for e, c in sorted((curve or {}).items()) if e >= from_eps - 1e-9]
    if not later:
        return None
    flat = AGREE if all(overlap(later[0], c) for c in later[1:]) else DISAGREE
    level, _ = combine([(str(i), versus_seed(c, Count.seed(seed))) for i, c in enumerate(later)])
    parts = [(f"no further fall from eps {from_eps:g}", flat), (f"a level of {pct(seed, 0)}", level)]
    lo, hi = pct(min(c.p for c in later)), pct(max(c.p for c in later))
    text = f"{lo} to {hi} from eps {from_eps:g} ({later[0].n:,} images)"
    return _judged(parts, text + ("; flat" if flat == AGREE else "; not flat"))


def most_effective(results, threat, model, attack, steep_eps, flat_eps):
    curve = _curve(results, model, attack, threat)
    if curve is None:
        return None
    eps, counts = _series(curve)
    steep, flat = steepest_bracket(eps, counts), flat_from(eps, counts)
    parts = [(f"steepest fall to eps {steep_eps:g}", in_bracket(steep_eps, steep))]
    parts.append((f"the fall ends at eps {flat_eps:g}", in_bracket(flat_eps, flat)))
    return _judged(parts, bracket_text(steep, "steepest fall") + "; " + bracket_text(flat, "turns flat"))


def collapse(results, threat, min_eps):
    col = results.get("collapse")
    base = find_curve(results, "baseline", "fgsm", "whitebox")
    n = (col or {}).get("n_images") or n_images(base)
    if not col or not n:
        return None
    rows = [(s, e, c) for e, c, s in zip(col["eps"], col["top_class"], col["top_share"]) if e >= min_eps - 1e-9]
    if not rows:
        return None
    share, e, cls = max(rows)
    ours = Count.of(share, n)
    parts = [("one class takes most images", above(ours, Count.share(0.5)))]
    parts.append(("all images", versus_seed(ours, Count.seed(1.0))))
    return _judged(parts, f"{ours.text()} called '{cls}' at eps {e:g}")


def _grid(results, model):
    g = (results.get("grids") or {}).get(model)
    if not g or not g.get("preds"):
        return None
    return sorted(zip(g["eps"], g["preds"])), g["label"]


def grid_up_to(results, threat, model, seed_eps):
    got = _grid(results, model)
    if got is None:
        return None
    rows, lab = got
    n = len(rows[0][1])
    k = sum(all(r[j] == lab for e, r in rows if e <= seed_eps + 1e-9) for j in range(n))
    return _out(versus_seed(Count(k, n), SEED_GRID), f"{k} of {n} correct up to eps {seed_eps:g}")


def grid_classes(results, threat, model, at_eps, first, then):
    got = _grid(results, model)
    if got is None:
        return None
    rows, _ = got
    at = [r for e, r in rows if abs(e - at_eps) < 1e-9]
    later = [r for e, r in rows if e > at_eps + 1e-9]
    if not at or not later:
        return None
    n = len(at[0])
    k1 = sum(p == first for p in at[0])
    k2 = sum(all(r[j] == then for r in later) for j in range(n))
    parts = [(f"'{first}' at eps {at_eps:g}", versus_seed(Count(k1, n), SEED_GRID))]
    parts.append((f"'{then}' beyond", versus_seed(Count(k2, n), SEED_GRID)))
    return _judged(parts, f"'{first}' at eps {at_eps:g}: {k1} of {n}; '{then}' at every larger eps: {k2} of {n}")


def loss_ends(results, threat, model, seed):
    losses = (results.get("losses") or {}).get(model)
    if not losses:
        return None
    n = len(losses)
    text = f"{losses[0]:.3f} -> {losses[-1]:.3f} ({n} epoch{'s' if n != 1 else ''}; the seed: {SEED_EPOCHS})"
    return _out(loss_verdict((losses[0], losses[-1]), tuple(seed), n), text)


def loss_order(results, threat, higher, lower):
    losses = results.get("losses") or {}
    if not losses.get(higher) or not losses.get(lower):
        return None
    hi, lo = losses[higher][0], losses[lower][0]
    text = f"epoch 1: {label(higher)} {hi:.3f}, {label(lower)} {lo:.3f}"
    if min(len(losses[higher]), len(losses[lower])) < SEED_EPOCHS:
        return _out(NOT_COMPARABLE, text + f" (on this profile's set; the seed: {SEED_EPOCHS} epochs, 360,000 images)")
    return _out(AGREE if hi > lo else DISAGREE, text)


def _pair_above(results, threat, a, b, attack, eps):
    """("A above B (ATTACK)", verdict over ``eps``, text), or None without both curves."""
    ca, cb = _curve(results, a, attack, threat), _curve(results, b, attack, threat)
    if ca is None or cb is None:
        return None
    es = [e for e in eps if round(e, 6) in ca and round(e, 6) in cb]
    if not es:
        return None
    xa, xb = [ca[round(e, 6)] for e in es], [cb[round(e, 6)] for e in es]
    verdict, failing = combine([(f"{e:g}", above(x, y)) for e, x, y in zip(es, xa, xb)])
    name = f"{label(a)} above {label(b)} ({attack.upper()}" + (
        f", not at eps {', '.join(failing)})" if failing else ")"
    )
    text = f"{attack.upper()}: {label(a)} {_pcts(xa)} vs {label(b)} {_pcts(xb)}"
    return name, verdict, text, es, xa[0].n


def above_range(results, threat, pairs, eps, attack=None):
    parts, texts, shown = [], [], None
    for pair in pairs:
        got = _pair_above(results, threat, pair[0], pair[1], pair[2] if len(pair) > 2 else attack, eps)
        if got is not None:
            parts.append(got[:2])
            texts.append(got[2])
            shown = shown or got[3:]
    if not parts:
        return None
    return _judged(parts, "; ".join(texts) + f" (eps {'/'.join(f'{e:g}' for e in shown[0])}; {shown[1]:,} images)")


def _two(results, threat, attack, a, b):
    ca, cb = _curve(results, a, attack, threat), _curve(results, b, attack, threat)
    if ca is None or cb is None:
        return None
    eps = sorted(set(ca) & set(cb))
    return (eps, [ca[e] for e in eps], [cb[e] for e in eps]) if len(eps) > 1 else None


def meet(results, threat, attack, a, b, seed_eps):
    got = _two(results, threat, attack, a, b)
    if got is None:
        return None
    eps, xa, xb = got
    bracket = meet_bracket(eps, xa, xb)
    never_apart = all(overlap(x, y) for x, y in zip(xa, xb))
    text = "never apart (the intervals overlap at every eps)" if never_apart else bracket_text(bracket, "meet")
    return _out(in_bracket(seed_eps, bracket), f"{label(a)} and {label(b)} {text}")


def _not_at(failing) -> str:
    return f" (not at eps {', '.join(failing)})" if failing else ""


def _beyond(eps, xa, xb, lo, hi) -> tuple[str, list[str]]:
    return combine([(f"{e:g}", above(x, y)) for e, x, y in zip(eps, xa, xb) if lo < e < hi])


def overtakes(results, threat, attack, a, b, seed_eps):
    got = _two(results, threat, attack, a, b)
    if got is None:
        return None
    eps, xa, xb = got
    bracket = overtake_bracket(eps, xa, xb)
    after, failing = _beyond(eps, xa, xb, seed_eps, 2.0)
    parts = [(f"overtakes at about eps {seed_eps:g}", in_bracket(seed_eps, bracket))]
    parts.append((f"above beyond eps {seed_eps:g}" + _not_at(failing), after))
    text = f"{label(a)} " + bracket_text(bracket, f"overtakes {label(b)} for good")
    text += f"; beyond eps {seed_eps:g}: {_pcts([x for e, x in zip(eps, xa) if e > seed_eps])} vs "
    return _judged(parts, text + _pcts([x for e, x in zip(eps, xb) if e > seed_eps]))


def above_then_below(results, threat, attack, a, b, seed_eps):
    got = _two(results, threat, attack, a, b)
    if got is None:
        return None
    eps, xa, xb = got
    before, f1 = _beyond(eps, xa, xb, 1e-9, seed_eps)
    after, f2 = _beyond(eps, xb, xa, seed_eps, 2.0)
    parts = [(f"{label(a)} above {label(b)} below eps {seed_eps:g}" + _not_at(f1), before)]
    parts.append((f"{label(b)} above {label(a)} beyond eps {seed_eps:g}" + _not_at(f2), after))
    text = f"{label(a)} {_pcts(xa[1:])} vs {label(b)} {_pcts(xb[1:])} (eps {'/'.join(f'{e:g}' for e in eps[1:])})"
    return _judged(parts, text)


def dropped(results, threat, model, attack, from_eps):
    curve = _curve(results, model, attack, threat)
    if curve is None or round(from_eps, 6) not in curve:
        return None
    top = max(curve)
    a, b = curve[round(from_eps, 6)], curve[top]
    return _out(above(a, b), f"{pct(a.p)} at eps {from_eps:g}, {pct(b.p)} at eps {top:g} ({a.n:,} images)")


def _clean(results, model) -> Count | None:
    m = results.get("models", {}).get(model)
    return None if not m or m.get("clean_acc") is None else Count.of(m["clean_acc"], m.get("n_images") or 10000)


def clean_above(results, threat, pairs):
    parts, texts = [], []
    for a, b in pairs:
        ca, cb = _clean(results, a), _clean(results, b)
        if ca is not None and cb is not None:
            parts.append((f"{label(a)} above {label(b)}", above(ca, cb)))
            texts.append(f"{label(a)} {pct(ca.p, 2)} vs {label(b)} {pct(cb.p, 2)}")
    return _judged(parts, "; ".join(texts) + " (10,000 images)") if parts else None


def tradeoff(results, threat, model, attack, eps):
    base, mine = _clean(results, "baseline"), _clean(results, model)
    robust = _pair_above(results, threat, model, "baseline", attack, eps)
    if base is None or mine is None or robust is None:
        return None
    parts = [("clean accuracy given up", above(base, mine)), ("robustness gained", robust[1])]
    return _judged(parts, f"clean {pct(mine.p, 2)} vs {pct(base.p, 2)}; {robust[2]}")


def _leak_transfer(rec, model) -> tuple[list, str] | None:
    r, b = rec["models"].get(model), rec["models"].get("baseline")
    if not r:
        return None
    n, eps = rec["n_images"], rec["eps"]
    c = Count.of(r["clean"], n)
    true, pred = [Count.of(a, n) for a in r["true"]], [Count.of(a, n) for a in r["predicted"]]
    best = max(true, key=lambda x: x.p)
    parts = [(f"{label(model)}: above clean", above(best, c))]
    parts.append(
        (f"{label(model)}: true above predicted labels", combine([("", above(t, p)) for t, p in zip(true, pred)])[0])
    )
    text = f"{label(model)}: clean {pct(c.p)}, true-label {_pcts(true)}, predicted-label {_pcts(pred)}"
    if b and "says planted" in r:
        pulled = [above(Count.of(x, n), Count.of(y, n)) for x, y in zip(r["says planted"], b["says planted"])]
        parts.append((f"{label(model)}: planted label draws answers", combine([("", v) for v in pulled])[0]))
        text += f", planted label answered {_pcts(Count.of(x, n) for x in r['says planted'])}"
    return parts, text + f" (eps {'/'.join(f'{e:g}' for e in eps)}; {n:,} images)"


def label_leaking(results, threat, models):
    parts, texts = [], []
    for model in models:
        if threat == "transfer":
            got = _leak_transfer(results["label_leaking"], model) if results.get("label_leaking") else None
        else:
            curve = _curve(results, model, "fgsm", threat)
            clean = None if curve is None else curve.get(0.0)
            best = None if clean is None else max((c for e, c in curve.items() if e > 0), key=lambda x: x.p)
            got = None if best is None else ([(f"{label(model)}: own FGSM above clean", above(best, clean))], "")
            got = got and (got[0], f"{label(model)}: clean {pct(clean.p)}, best under FGSM {pct(best.p)}")
        if got:
            parts += got[0]
            texts.append(got[1])
    return _judged(parts, "; ".join(texts)) if parts else None


def restarts(results, threat):
    checks = sanity.more_steps_restarts_not_weaker(results)
    if not checks:
        return None
    parts = [(label(m), AGREE if r["passed"] else DISAGREE) for m, r in checks.items()]
    return _judged(parts, "; ".join(f"{label(m)}: {r['detail']}" for m, r in checks.items()))


def fgsm_above_pgd(results, threat, model, eps):
    fgsm, pgd = _counts(fgsm_on_pgd_images(results, model)), _counts(find_curve(results, model, "pgd", threat))
    es = [e for e in eps if fgsm and pgd and round(e, 6) in fgsm and round(e, 6) in pgd]
    if not es:
        return None
    xf, xp = [fgsm[round(e, 6)] for e in es], [pgd[round(e, 6)] for e in es]
    parts = [(f"eps {e:g}", above(f, p)) for e, f, p in zip(es, xf, xp)]
    where = "/".join(f"{e:g}" for e in es)
    return _judged(parts, f"FGSM {_pcts(xf)} vs PGD {_pcts(xp)} (eps {where}; {xp[0].n:,} images)")


def explained(results, threat, why):
    return _out(EXPLAINED, why)


def _robust(results, threat, model) -> Count | None:
    m = results.get("models", {}).get(model) or {}
    r = m.get("robust_eval") or {}
    if threat == "whitebox":
        return Count.of(r["robust_acc"], r["n_images"]) if r.get("n_images") else None
    eps = r.get("eps") or (results.get("config") or {}).get("otf_eps") or 0.3
    curve = _curve(results, model, "pgd", "transfer")
    return None if curve is None else curve.get(round(float(eps), 6))


def robust_above(results, threat, pairs):
    parts, texts = [], []
    for a, b in pairs:
        ra, rb = _robust(results, threat, a), _robust(results, threat, b)
        if ra is None or rb is None:
            continue
        parts.append((f"{label(a)} above {label(b)}", above(ra, rb)))
        none = " (neither keeps a single image)" if ra.k == rb.k == 0 else ""
        texts.append(f"{label(a)} {ra.text()} vs {label(b)} {pct(rb.p)}{none}")
    what = "worst case over every attack" if threat == "whitebox" else "PGD crafted on the baseline"
    return _judged(parts, f"{what}: " + "; ".join(texts)) if parts else None


MEASURES = {f.__name__: f for f in (clean_vs_seed, at_eps_vs_seed, steepest, plateau, most_effective, collapse)}
MEASURES.update({f.__name__: f for f in (grid_up_to, grid_classes, loss_ends, loss_order, above_range, meet)})
MEASURES.update({f.__name__: f for f in (overtakes, above_then_below, dropped, clean_above, tradeoff, label_leaking)})
MEASURES.update({f.__name__: f for f in (restarts, fgsm_above_pgd, explained, robust_above)})
