"""The seed blog post's claims, one row each (chapters 1-3 here; 4-5 in ``claims_generalisation``):
the seed's words verbatim, the chapter that measures the claim, what we measure, the seed's numbers,
and the measure (a function of ``advlab.course.measures``) with its arguments and threat models.
Every verdict follows ``advlab.evaluation.verdict``."""

from __future__ import annotations

from dataclasses import dataclass, field

# The blog post's clean test accuracies, as it states them (its results tables).
CLAIMED_CLEAN = {"baseline": 0.99, "fgsm_retrained": 0.98}
WB, BOTH, ALL, TR = ("whitebox",), ("whitebox", "transfer"), ("all",), ("transfer",)
RANGE = (0.1, 0.2, 0.3)  # the eps where the curves of chapters 3 and 4 are neither clean nor at their floor


@dataclass(frozen=True)
class Claim:
    id: str
    chapter: str
    quote: str  # the seed's words, verbatim
    what: str  # what we measure
    seed: str  # the seed's numbers, or its reading
    measure: str
    args: dict = field(default_factory=dict)
    threats: tuple = BOTH


def _pairs(*pairs):
    return {"pairs": [list(p) for p in pairs], "eps": list(RANGE)}


CLAIMS = [
    Claim(
        "baseline_clean",
        "01",
        "With the MNIST testing dataset, this model achieved 99% accuracy.",
        "Baseline clean accuracy, 10,000 test images",
        "99% of 10,000",
        "clean_vs_seed",
        {"model": "baseline", "seed": 0.99},
        ALL,
    ),
    Claim(
        "fgsm_steepest",
        "02",
        "An epsilon value of 0.2 has the most significant impact on the accuracy of the image classifier",
        "FGSM on the baseline: the step of the sweep with the steepest fall",
        "the step to eps 0.2",
        "steepest",
        {"model": "baseline", "attack": "fgsm", "seed_eps": 0.2},
        WB,
    ),
    Claim(
        "fgsm_values",
        "02",
        "reducing its accuracy from 79% to 24%",
        "FGSM on the baseline at eps 0.1 and 0.2",
        "79% and 24% of 10,000",
        "at_eps_vs_seed",
        {"model": "baseline", "attack": "fgsm", "points": [[0.1, 0.79], [0.2, 0.24]]},
        WB,
    ),
    Claim(
        "fgsm_plateau",
        "02",
        "Beyond an epsilon value of 0.4, the model no longer experiences additional accuracy loss and maintains "
        "a consistent accuracy of 10%.",
        "FGSM on the baseline from eps 0.4: no further fall; the level",
        "flat from 0.4, at 10% of 10,000",
        "plateau",
        {"model": "baseline", "attack": "fgsm", "from_eps": 0.4, "seed": 0.10},
        WB,
    ),
    Claim(
        "fgsm_most_effective",
        "02",
        "the most effective epsilon values for this attack on the baseline model lie between 0.2 and 0.4",
        "FGSM on the baseline: where the steepest fall lies, and where the curve turns flat",
        "steepest fall to 0.2, flat from 0.4",
        "most_effective",
        {"model": "baseline", "attack": "fgsm", "steep_eps": 0.2, "flat_eps": 0.4},
        WB,
    ),
    Claim(
        "intro_most_effective",
        "02",
        "FGSM attacks were most effective with epsilon values between 0.2 and 0.4.",
        "The introduction's summary of the row above, measured the same way",
        "steepest fall to 0.2, flat from 0.4",
        "most_effective",
        {"model": "baseline", "attack": "fgsm", "steep_eps": 0.2, "flat_eps": 0.4},
        WB,
    ),
    Claim(
        "collapse",
        "02",
        "when using FGSM on the Baseline model, all perturbed images were misclassified to a single class.",
        "FGSM on the baseline at eps 0.4 and above: the share of images given the most frequent class",
        "all images, one class",
        "collapse",
        {"min_eps": 0.4},
        WB,
    ),
    Claim(
        "grid_baseline",
        "02",
        "the baseline model accurately predicted the class up to epsilon 0.15",
        "Grid of ten fives under FGSM: images classified correctly at every eps up to 0.15",
        "10 of 10 up to 0.15",
        "grid_up_to",
        {"model": "baseline", "seed_eps": 0.15},
        WB,
    ),
    Claim(
        "grid_two_then_eight",
        "02",
        "initially when the epsilon value was 0.2, the image was misclassified as belonging to class '2'. "
        "Subsequently, any increase in the epsilon value resulted in the image being misclassified as class '8'.",
        "Grid of ten fives under FGSM on the baseline: images called '2' at eps 0.2, and '8' at every larger eps "
        "(the seed's 'the image' read as each image of its row)",
        "10 of 10 each",
        "grid_classes",
        {"model": "baseline", "at_eps": 0.2, "first": 2, "then": 8},
        WB,
    ),
    Claim(
        "fgsm_retrained_clean",
        "03",
        "This model achieved a 98% accuracy on the non-perturbed MNIST testing dataset.",
        "FGSM-retrained clean accuracy, 10,000 test images",
        "98% of 10,000",
        "clean_vs_seed",
        {"model": "fgsm_retrained", "seed": 0.98},
        ALL,
    ),
    Claim(
        "loss_untrained",
        "03",
        "The untrained model's loss began at 0.102 for the first epoch and dropped to 0.002 by the fiftieth epoch.",
        "Training loss of the FGSM-untrained model, first and last epoch",
        "0.102 -> 0.002 (50 epochs)",
        "loss_ends",
        {"model": "fgsm_untrained", "seed": [0.102, 0.002]},
        ALL,
    ),
    Claim(
        "loss_retrained",
        "03",
        "the retrained model's loss started at 0.203 for the first epoch and decreased to 0.002 by the fiftieth epoch.",
        "Training loss of the FGSM-retrained model, first and last epoch",
        "0.203 -> 0.002 (50 epochs)",
        "loss_ends",
        {"model": "fgsm_retrained", "seed": [0.203, 0.002]},
        ALL,
    ),
    Claim(
        "loss_order",
        "03",
        "the original model must relearn its classifications, resulting in almost double the initial loss.",
        "First-epoch training loss: retrained above untrained",
        "0.203 above 0.102",
        "loss_order",
        {"higher": "fgsm_retrained", "lower": "fgsm_untrained"},
        ALL,
    ),
    Claim(
        "fgsm_ranking",
        "03",
        "We can see that the retrained model performed better than the baseline model, while the untrained model "
        "performed the worst.",
        "FGSM at eps 0.1, 0.2, 0.3: retrained above the baseline, the baseline above untrained",
        "retrained > baseline > untrained",
        "above_range",
        {**_pairs(("fgsm_retrained", "baseline"), ("baseline", "fgsm_untrained")), "attack": "fgsm"},
    ),
    Claim(
        "meet_baseline_retrained",
        "03",
        "At approximately 0.30 epsilon, the accuracy of the Baseline and the retrained model converged",
        "FGSM: the eps at which the baseline's and the retrained model's curves meet",
        "about 0.30",
        "meet",
        {"attack": "fgsm", "a": "fgsm_retrained", "b": "baseline", "seed_eps": 0.30},
    ),
    Claim(
        "meet_retrained_untrained",
        "03",
        "around 0.37 epsilon, the retrained and untrained models converged",
        "FGSM: the eps at which the retrained and untrained curves meet",
        "about 0.37",
        "meet",
        {"attack": "fgsm", "a": "fgsm_retrained", "b": "fgsm_untrained", "seed_eps": 0.37},
    ),
    Claim(
        "intro_retrained_vs_combined",
        "03",
        "retrained models outperformed those trained on a combined dataset of benign and adversarial examples.",
        "FGSM at eps 0.1, 0.2, 0.3: retrained above untrained. Both were trained on the combined set: the "
        "introduction misstates the comparison its body makes (fine-tuned baseline against a fresh model)",
        "retrained > untrained",
        "above_range",
        {**_pairs(("fgsm_retrained", "fgsm_untrained")), "attack": "fgsm"},
    ),
    Claim(
        "clean_drop",
        "03",
        "I noticed that the accuracy of FGSM models decreased slightly when predicting non-perturbed images "
        "compared to the baseline model.",
        "Clean accuracy, 10,000 test images: the baseline above each FGSM-trained model",
        "baseline > FGSM models",
        "clean_above",
        {"pairs": [["baseline", "fgsm_retrained"], ["baseline", "fgsm_untrained"]]},
        ALL,
    ),
    Claim(
        "tradeoff",
        "03",
        "This observation confirms the robustness-accuracy trade-off discussed in the literature.",
        "A trade-off: the FGSM-retrained model gives up clean accuracy and gains robustness (above the baseline "
        "under FGSM at eps 0.1, 0.2, 0.3)",
        "clean accuracy paid for robustness",
        "tradeoff",
        {"model": "fgsm_retrained", "attack": "fgsm", "eps": list(RANGE)},
    ),
    Claim(
        "biases",
        "03",
        "Combining datasets of adversarial and benign examples can inadvertently introduce biases that affect "
        "model performance.",
        "A warning that names no bias and no measure",
        "none",
        "explained",
        {
            "why": "It names no bias to measure; the effects such a set can have are judged in the rows on clean "
            "accuracy, the two threat models and label leaking."
        },
        ALL,
    ),
    Claim(
        "retention",
        "03",
        "This improvement may be attributed to the retention of features from the benign dataset and the "
        "fine-tuning of the training model on the combined dataset, which allowed for better generalization and "
        "robustness.",
        "An explanation of the retrained model's advantage",
        "none",
        "explained",
        {
            "why": "A cause cannot be read from accuracies (it would need the two models' features compared); the "
            "advantage it explains is judged in the rows on the ranking and on retrained against untrained."
        },
        ALL,
    ),
    Claim(
        "label_leaking",
        "03",
        "This discrepancy could be due to the intentional decrease in the PGD model's performance, label leaking, "
        "overfitting, or the model's capacity influencing the robustness of adversarial training.",
        "Kurakin et al.'s signs in the FGSM-trained models: attacked images scoring above clean ones "
        "(white-box: its own FGSM; transfer: the baseline's true-label FGSM), above predicted-label FGSM, and a "
        "planted wrong label drawing answers",
        "a possible cause (of the PGD model's small gain)",
        "label_leaking",
        {"models": ["fgsm_retrained", "fgsm_untrained"]},
    ),
]
