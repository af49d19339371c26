"""The seed's claims of chapters 4 and 5 (generalisation, and adversarial training in general), in the
form of ``advlab.course.claims``; ``advlab.course.scorecard`` judges them with the others."""

from __future__ import annotations

from advlab.course.claims import ALL, RANGE, TR, WB, Claim, _pairs

CLAIMS = [
    Claim(
        "pgd_stronger",
        "04",
        "Unlike the FGSM attack, the PGD attack iterates the gradient calculation process multiple times",
        "White-box on the baseline, same images, eps 0.1, 0.2, 0.3: FGSM leaves more images correct than PGD",
        "PGD stronger",
        "fgsm_above_pgd",
        {"model": "baseline", "eps": list(RANGE)},
        WB,
    ),
    Claim(
        "pgd_restarts",
        "04",
        "taking small steps to generate adversarial samples with perturbations that maximize the model's loss function",
        "PGD with twice the steps, and 3 restarts from fresh random starts, leave no more images correct than k "
        "steps and 1 start (beyond the 95% interval of the weaker count)",
        "more iterations, no weaker",
        "restarts",
        {},
        WB,
    ),
    Claim(
        "pgd_until_misclassified",
        "04",
        "updating the input data in the gradient direction until the model misclassifies the data",
        "A description of the attack, not a result",
        "none",
        "explained",
        {
            "why": "It describes a stopping rule, not a result: our white-box PGD stops each image at its first "
            "fooling iterate, as described, and the PGD that builds the static sets runs all its steps (Madry et "
            "al.'s standard PGD)."
        },
        ALL,
    ),
    Claim(
        "pgd_ranking_pgd",
        "04",
        "As expected, the PGD-trained model had the highest robustness against the PGD attack. Moreover, the "
        "FGSM-trained model also showed a high level of robustness against the PGD attack compared to the baseline "
        "model.",
        "PGD at eps 0.1, 0.2, 0.3: PGD-trained above FGSM-trained and baseline; FGSM-trained above baseline",
        "PGD-trained > FGSM-trained > baseline",
        "above_range",
        {
            **_pairs(
                ("pgd_retrained", "fgsm_retrained"), ("pgd_retrained", "baseline"), ("fgsm_retrained", "baseline")
            ),
            "attack": "pgd",
        },
    ),
    Claim(
        "fgsm_model_dropped",
        "04",
        "when the value of epsilon was increased, the accuracy performance of the FGSM-trained model eventually "
        "dropped.",
        "PGD on the FGSM-retrained model: accuracy at eps 0.1 above the accuracy at the largest eps",
        "it drops",
        "dropped",
        {"model": "fgsm_retrained", "attack": "pgd", "from_eps": 0.1},
    ),
    Claim(
        "pgd_above_baseline_to_033",
        "04",
        "We can see increased robustness from the baseline model in the PGD-trained model up to 0.33 epsilon, after "
        "which the baseline model showed better results than the adversarially trained models.",
        "FGSM: PGD-trained above the baseline at every eps below 0.33, the baseline above it at every eps beyond",
        "crossing at 0.33",
        "above_then_below",
        {"attack": "fgsm", "a": "pgd_retrained", "b": "baseline", "seed_eps": 0.33},
    ),
    Claim(
        "pgd_overtakes_fgsm",
        "04",
        "The PGD model accuracy surpassed the FGSM-trained model by around 0.15 epsilon, after which it generally "
        "provided higher robustness than the FGSM model.",
        "FGSM: where the PGD-trained curve overtakes the FGSM-trained one for good, and whether it lies above it "
        "beyond 0.15",
        "overtakes at about 0.15",
        "overtakes",
        {"attack": "fgsm", "a": "pgd_retrained", "b": "fgsm_retrained", "seed_eps": 0.15},
    ),
    Claim(
        "analysis_fgsm_over_pgd",
        "04",
        "In both attack scenarios, the FGSM-retrained model showed better resistance to the PGD-trained model",
        "FGSM and PGD at eps 0.1, 0.2, 0.3: FGSM-retrained above PGD-retrained (the seed's text says both this and "
        "the row above)",
        "FGSM-retrained > PGD-retrained",
        "above_range",
        {
            "pairs": [["fgsm_retrained", "pgd_retrained", "fgsm"], ["fgsm_retrained", "pgd_retrained", "pgd"]],
            "eps": list(RANGE),
        },
    ),
    Claim(
        "pgd_beats_fgsm_020_035",
        "04",
        "FGSM attacks with an epsilon value of 0.20 to 0.35 outperformed the retrained FGSM model",
        "FGSM at eps 0.2 and 0.3: PGD-trained above FGSM-retrained (the sentence names no subject; read as the PGD "
        "model of its paragraph)",
        "PGD-trained > FGSM-retrained",
        "above_range",
        {"pairs": [["pgd_retrained", "fgsm_retrained"]], "eps": [0.2, 0.3], "attack": "fgsm"},
    ),
    Claim(
        "pgd_resists_transfer",
        "04",
        "Despite this, the PGD model still resisted FGSM transfer attacks.",
        "FGSM crafted on the baseline, eps 0.1, 0.2, 0.3: PGD-trained above the baseline",
        "PGD-trained > baseline",
        "above_range",
        {**_pairs(("pgd_retrained", "baseline")), "attack": "fgsm"},
        TR,
    ),
    Claim(
        "transferability",
        "04",
        "Adversarial training enhances a model's robustness against FGSM attacks by using the transferability "
        "property of adversarial examples.",
        "FGSM at eps 0.1, 0.2, 0.3: both statically trained models above the baseline (the seed's mechanism "
        "predicts it under transfer, not white-box)",
        "trained > baseline",
        "above_range",
        {**_pairs(("fgsm_retrained", "baseline"), ("pgd_retrained", "baseline")), "attack": "fgsm"},
    ),
    Claim(
        "pgd_gain_lower",
        "04",
        "the increase in accuracy against FGSM for the PGD adversarially trained model was lower than expected",
        "An expectation the seed does not state",
        "none",
        "explained",
        {
            "why": "It compares with an expectation the seed does not give; the PGD-trained model's gain under FGSM "
            "is judged in the rows on the baseline and the FGSM-trained model."
        },
        ALL,
    ),
    Claim(
        "grid_fgsm_retrained",
        "04",
        "the FGSM-trained model accurately predicted the class up to epsilon 0.2",
        "Grid of ten fives under FGSM: images classified correctly at every eps up to 0.2",
        "10 of 10 up to 0.2",
        "grid_up_to",
        {"model": "fgsm_retrained", "seed_eps": 0.2},
        WB,
    ),
    Claim(
        "grid_pgd_retrained",
        "04",
        "the PGD-trained model accurately predicted the class up to epsilon 0.25",
        "Grid of ten fives under FGSM: images classified correctly at every eps up to 0.25",
        "10 of 10 up to 0.25",
        "grid_up_to",
        {"model": "pgd_retrained", "seed_eps": 0.25},
        WB,
    ),
    Claim(
        "fgsm_training_helps",
        "05",
        "Adversarial training with FGSM improved model robustness",
        "At the evaluation's eps: white-box, the per-image worst case over every attack; transfer, PGD crafted on "
        "the baseline. FGSM-retrained (static) and fast FGSM training (on the fly) above the baseline",
        "trained > baseline",
        "robust_above",
        {"pairs": [["fgsm_retrained", "baseline"], ["fast_adv", "baseline"]]},
    ),
    Claim(
        "stronger_examples",
        "05",
        "The stronger the adversarial examples used for training, the more robust the model becomes.",
        "As above: PGD-trained above FGSM-trained, static and on the fly",
        "PGD-trained > FGSM-trained",
        "robust_above",
        {"pairs": [["pgd_retrained", "fgsm_retrained"], ["fast_pgd_adv", "fast_adv"]]},
    ),
]
