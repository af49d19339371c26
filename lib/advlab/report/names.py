"""Names a person reads for the sanity checks the report shows (the results keep their ids, e.g.
``pgd_not_weaker_than_fgsm``, which the page gives as a tooltip)."""

from __future__ import annotations

CHECK_NAMES = {
    "pgd_not_weaker_than_fgsm": "PGD at least as strong as FGSM",
    "accuracy_falls_with_eps": "Accuracy falls as eps grows",
    "pgd_reaches_zero_undefended": "PGD takes the undefended model to zero",
    "noise_hurts_less": "Random noise hurts less than the attack",
    "label_leaking": "No label leaking",
    "more_steps_restarts_not_weaker": "More steps or restarts do not help the model",
    "evaluation_converged": "Curve attack within 3 points of APGD (converged)",
    "loss_on_logits": "Cross-entropy as strong as the logit margin",
}
CURVES_PREFIX = "curves_"


def check_name(check_id: str) -> str:
    """The readable name of a sanity check: ``'curves_label_leaking'`` -> ``'Curves: no label leaking'``;
    an id not listed here becomes words (``'new_check'`` -> ``'New check'``)."""
    if check_id.startswith(CURVES_PREFIX):
        inner = check_name(check_id[len(CURVES_PREFIX) :])
        if not inner[:2].isupper():  # keep an acronym (PGD) as it is
            inner = inner[:1].lower() + inner[1:]
        return f"Curves: {inner}"
    if check_id in CHECK_NAMES:
        return CHECK_NAMES[check_id]
    words = check_id.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


ATTACK_NAMES = {"fgsm": "FGSM", "apgd_ce": "APGD-CE", "apgd_t": "APGD-T", "apgd_dlr": "APGD-DLR"}
LOSS_NAMES = {"ce": "cross-entropy", "cw": "CW margin"}


def attack_name(attack_id: str) -> str:
    """The readable name of an attack of the robust evaluation: ``'pgd40x2_ce'`` -> ``'PGD-40 x 2 (cross-entropy)'``,
    ``'apgd_t'`` -> ``'APGD-T'``; an id not understood is shown as it is."""
    if attack_id in ATTACK_NAMES:
        return ATTACK_NAMES[attack_id]
    head, _, loss = attack_id.partition("_")
    if head.startswith("pgd") and head[3:].replace("x", "", 1).isdigit():
        steps, _, restarts = head[3:].partition("x")
        text = f"PGD-{steps}" + (f" x {restarts}" if restarts else "")
        return text + (f" ({LOSS_NAMES.get(loss, loss)})" if loss else "")
    return attack_id
