"""On-the-fly adversarial training, the stronger evaluation, and the sanity checks that must flag a
model whose gradients are masked."""

import copy

import pytest
import torch

import advlab
from advlab.core import adversarial_training
from advlab.core.attacks import input_gradient, pgd
from advlab.core.data import subset
from advlab.core.inference import predict
from advlab.evaluation import robust, sanity
from advlab.evaluation.stats import count, gap_points, not_weaker


class Quantized(torch.nn.Module):
    """A gradient-masking "defence": rounding the input has zero gradient, so FGSM and PGD take no step."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(torch.round(x * 7) / 7)


class Saturated(torch.nn.Module):
    """A model that returns a saturated softmax instead of logits: the loss's gradient underflows to 0."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x) * 1e4, dim=1)


# --- fast adversarial training ---------------------------------------------------------------------


def test_fgsm_rs_stays_in_the_ball(trained_model, test_batch):
    x, y = test_batch[0][:100], test_batch[1][:100]
    for eps, alpha in ((0.1, 0.125), (0.3, 0.375)):
        torch.manual_seed(0)
        x_adv = adversarial_training.fgsm_rs(trained_model, x, y, eps, alpha)
        assert (x_adv - x).abs().max() <= eps + 1e-6
        assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_fgsm_rs_matches_its_definition(trained_model, test_batch):
    """delta0 ~ U(-eps, eps); x0 = clamp(x + delta0); x' = clamp(x + clip(x0 - x + alpha sign(grad at x0)))."""
    x, y = test_batch[0][:50], test_batch[1][:50]
    eps, alpha = 0.3, 0.375
    torch.manual_seed(1)
    x_adv = adversarial_training.fgsm_rs(trained_model, x, y, eps, alpha)
    torch.manual_seed(1)
    x0 = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    x0.requires_grad_(True)
    torch.nn.functional.cross_entropy(trained_model(x0), y, reduction="sum").backward()
    expected = (x + (x0.detach() - x + alpha * x0.grad.sign()).clamp(-eps, eps)).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-6)


def test_n_fgsm_matches_its_definition_and_is_not_projected(trained_model, test_batch):
    """N-FGSM: x0 = clamp(x + U(-k eps, k eps)); x' = clamp(x0 + alpha sign(grad at x0)), no eps-ball."""
    x, y = test_batch[0][:50], test_batch[1][:50]
    eps = 0.3
    torch.manual_seed(1)
    x_adv = adversarial_training.n_fgsm(trained_model, x, y, 2 * eps, eps)
    torch.manual_seed(1)
    x0 = (x + torch.empty_like(x).uniform_(-2 * eps, 2 * eps)).clamp(0, 1)
    x0.requires_grad_(True)
    torch.nn.functional.cross_entropy(trained_model(x0), y, reduction="sum").backward()
    expected = (x0.detach() + eps * x0.grad.sign()).clamp(0, 1)
    assert torch.allclose(x_adv, expected, atol=1e-6)
    reach = (x_adv - x).abs()
    assert reach.max() > eps + 0.1 and reach.max() <= 3 * eps + 1e-6  # beyond the eps-ball, within noise + step
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    adv = adversarial_training.OnTheFly("n_fgsm", eps, n_batches=1)
    assert (adv.alpha_factor, adv.noise_factor) == (1.0, 2.0)  # de Jorge et al.'s defaults
    assert adversarial_training.OnTheFly("fgsm_rs", eps, n_batches=1).alpha_factor == 1.25  # Wong et al.'s


def test_eps_ramp():
    adv = adversarial_training.OnTheFly("fgsm_rs", 0.3, n_batches=10, ramp_epochs=2)
    seen = []
    for _ in range(25):
        seen.append(adv.current_eps())
        adv.batch += 1
    assert seen[0] == pytest.approx(0.015) and seen[9] == pytest.approx(0.15)
    assert seen[19] == pytest.approx(0.3) and seen[24] == pytest.approx(0.3)
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    assert adversarial_training.OnTheFly("pgd", 0.3, n_batches=10).current_eps() == 0.3
    with pytest.raises(ValueError, match="method"):
        adversarial_training.OnTheFly("trades", 0.3, n_batches=10)


def test_adversary_crafts_in_eval_mode_and_restores_train_mode(trained_model, test_batch):
    model = copy.deepcopy(trained_model).train()
    x, y = test_batch[0][:64], test_batch[1][:64]
    for method in adversarial_training.METHODS:
        adv = adversarial_training.OnTheFly(method, 0.3, n_batches=1, steps=3)
        torch.manual_seed(0)
        x_adv = adv(model, x, y)
        assert model.training
        reach = 0.3 * (adv.noise_factor + adv.alpha_factor) if method == "n_fgsm" else 0.3  # N-FGSM: no projection
        assert (x_adv - x).abs().max() <= reach + 1e-6
        # eval mode: the same call twice gives the same examples (no dropout inside the attack)
        torch.manual_seed(0)
        assert torch.equal(adversarial_training.OnTheFly(method, 0.3, n_batches=1, steps=3)(model, x, y), x_adv)
        assert int((predict(model, x_adv) == y).sum()) < int((predict(model, x) == y).sum())


def test_fast_training_gains_robustness(mnist_train, test_batch):
    """Two short epochs of fast adversarial training at eps 0.1 beat plain training under PGD."""
    x, y = subset(*mnist_train, 6000, seed=3)
    xt, yt = test_batch[0][:300], test_batch[1][:300]
    torch.manual_seed(0)
    plain = advlab.BaselineCNN()
    advlab.fit(plain, x, y, epochs=2, seed=0, progress=False)
    torch.manual_seed(0)
    hardened = advlab.BaselineCNN()
    history = adversarial_training.train_on_the_fly(
        hardened, x, y, "fgsm_rs", 0.1, 2, seed=0, progress=False, guard=(xt[:100], yt[:100]), guard_steps=3
    )
    assert [r["epoch"] for r in history["epochs"]] == [1, 2] and history["stopped"] is None
    assert all(0 <= r["guard_acc"] <= 1 and r["seconds"] > 0 for r in history["epochs"])
    k_plain = int(adversarial_training.pgd_correct(plain, xt, yt, 0.1, 10).sum())
    k_hard = int(adversarial_training.pgd_correct(hardened, xt, yt, 0.1, 10).sum())
    assert gap_points(k_hard, k_plain, 300) > 20, (k_plain, k_hard)  # an effect size: more than 60 of 300 images


def test_guard_rolls_back_on_collapse(mnist_train, monkeypatch):
    """When held-out PGD accuracy collapses, training stops and the best epoch's weights come back."""
    x, y = subset(*mnist_train, 1024, seed=4)
    guard_accs = iter([0.30, 0.50, 0.05, 0.9])
    snapshots = []

    def fake_guard(model, xg, yg, eps, steps, restarts=1, seed=0):
        snapshots.append(copy.deepcopy(model.state_dict()))
        return next(guard_accs)

    monkeypatch.setattr(adversarial_training, "pgd_accuracy", fake_guard)
    torch.manual_seed(0)
    model = advlab.BaselineCNN()
    history = adversarial_training.train_on_the_fly(
        model, x, y, "fgsm_rs", 0.3, 4, guard=(x[:10], y[:10]), progress=False
    )
    assert len(history["epochs"]) == 3, "training went on after the collapse"
    assert history["best_epoch"] == 2 and history["final_epoch"] == 2
    assert "catastrophic overfitting at epoch 3" in history["stopped"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k]), f"{k} is not the best epoch's"


# --- the stronger evaluation -----------------------------------------------------------------------


def test_robust_eval_worst_case_never_above_any_attack(trained_model, test_batch):
    x, y = test_batch[0][:200], test_batch[1][:200]
    attacks = robust.attack_suite(0.15, steps=5, restarts=2, cw_restarts=1, apgd_steps=5, apgd_targets=2)
    r = robust.robust_eval(trained_model, x, y, 0.15, attacks, seed=0)
    assert list(r["attacks"]) == list(attacks) == ["fgsm", "pgd5x2_ce", "pgd5x1_cw", "apgd_ce", "apgd_t"]
    assert r["n_images"] == 200 and r["eps"] == 0.15
    assert r["evaluation"] == "FGSM, PGD-5 x 2 (CE), PGD-5 x 1 (CW), APGD-CE-5, APGD-T-5 (2 targets)"
    # accuracies are exact k / 200, so comparing them compares counts
    assert r["robust_acc"] <= min(r["attacks"].values()) and r["robust_acc"] <= r["clean_acc"]
    k = {name: count(a, 200) for name, a in r["attacks"].items()}
    assert not_weaker(k["pgd5x2_ce"], k["fgsm"], 200), k  # PGD not weaker than FGSM beyond the 95% noise
    # per-image masks, in image order: the worst case is their AND with clean correctness
    masks = {name: torch.tensor(a["per_image_robust"]) for name, a in r["per_attack"].items()}
    clean = predict(trained_model, x) == y
    assert all(len(m) == 200 and m.dtype == torch.bool for m in masks.values())
    worst = clean.clone()
    for m in masks.values():
        worst &= m
    assert worst.tolist() == r["per_image_robust"]
    assert r["robust_acc"] == int(worst.sum()) / 200
    # APGD-T runs on APGD-CE's survivors: its mask is the sequence's
    assert bool((masks["apgd_ce"] | ~masks["apgd_t"]).all())
    for name, a in r["per_attack"].items():
        lo, hi = a["ci95"]
        assert lo <= a["acc"] <= hi and a["settings"] == attacks[name] and a["acc"] == r["attacks"][name]
    # FGSM's mask is FGSM's own examples, recomputed
    assert (
        masks["fgsm"].tolist()
        == (clean & (predict(trained_model, advlab.fgsm(trained_model, x, y, 0.15)) == y)).tolist()
    )


def test_attack_suite_leaves_out_what_is_zero():
    assert list(robust.attack_suite(0.3)) == ["fgsm", "pgd40x10_ce", "apgd_ce", "apgd_t"]
    assert list(robust.attack_suite(0.3, apgd_targets=0, cw_restarts=2)) == [
        "fgsm",
        "pgd40x10_ce",
        "pgd40x2_cw",
        "apgd_ce",
    ]
    assert robust.attack_suite(0.3)["apgd_t"]["after"] == "apgd_ce"


def test_restarts_never_weaker_than_one_run(trained_model, test_batch):
    x, y = test_batch[0][:300], test_batch[1][:300]
    for loss in ("ce", "cw"):
        one = pgd(trained_model, x, y, 0.1, 0.025, 5, True, 1, loss=loss, seed=3)
        three = pgd(trained_model, x, y, 0.1, 0.025, 5, True, 3, loss=loss, seed=3)
        fooled_one = predict(trained_model, one) != y
        fooled_three = predict(trained_model, three) != y
        assert (fooled_three | ~fooled_one).all(), "an image fooled by one run survived three restarts"


# --- sanity checks ---------------------------------------------------------------------------------


def test_checks_pass_on_an_honest_undefended_model(trained_model, test_batch):
    x, y = test_batch[0][:200], test_batch[1][:200]
    checks = sanity.check_model(trained_model, x, y, 0.3, steps=10, undefended=True, apgd_steps=20, apgd_targets=3)
    assert set(checks) == set(sanity.MODEL_CHECKS)
    failed = {k: r["detail"] for k, r in checks.items() if not r["passed"]}
    assert not failed, failed
    assert all(isinstance(r["detail"], str) and r["detail"] for r in checks.values())


def test_zero_gradient_model_is_flagged(trained_model, test_batch):
    masked = Quantized(trained_model).eval()
    x, y = test_batch[0][:200], test_batch[1][:200]
    grad, _, _ = input_gradient(masked, x, y)
    assert grad.abs().max() == 0, "the masked model should have zero input gradient"
    checks = sanity.check_model(masked, x, y, 0.3, steps=10, apgd_steps=10, apgd_targets=2)
    assert not checks["noise_hurts_less"]["passed"], checks["noise_hurts_less"]
    assert not checks["accuracy_falls_with_eps"]["passed"], checks["accuracy_falls_with_eps"]


def test_saturated_softmax_model_is_flagged(trained_model, test_batch):
    masked = Saturated(trained_model).eval()
    x, y = test_batch[0][:200], test_batch[1][:200]
    checks = sanity.check_model(masked, x, y, 0.3, steps=10, apgd_steps=10, apgd_targets=2)
    failed = [k for k, r in checks.items() if not r["passed"]]
    assert "noise_hurts_less" in failed or "accuracy_falls_with_eps" in failed, checks
    assert len(failed) >= 2, checks


def test_label_leaking_flag(trained_model, test_batch):
    """A model that answers correctly exactly when the input was moved along the true label's FGSM
    direction leaks the label: FGSM with true labels is then weaker than with predicted labels."""
    x, y = test_batch[0][:200], test_batch[1][:200]

    class Leaky(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            z = self.net(x)
            # inputs far from any test image (an attack moved them) are answered with the true label,
            # read from a lookup: a caricature of a model that learned the perturbation's label
            d = (x[:, None] - ref_x[None]).flatten(2).abs().amax(2)
            near, idx = d.min(1)
            hit = (near > 0.05) & (near < 0.31)
            return torch.where(hit[:, None], 50 * torch.nn.functional.one_hot(ref_y[idx], 10).float(), z)

    ref_x, ref_y = x, y
    checks = sanity.check_model(Leaky(trained_model).eval(), x, y, 0.3, steps=3, apgd_steps=5, apgd_targets=1)
    assert not checks["label_leaking"]["passed"], checks["label_leaking"]


def test_curve_monotonicity_uses_the_worst_case():
    """FGSM alone may rise at large eps (it is one step, not an optimiser); the worst case over FGSM and
    PGD must not. The detail still names the FGSM rise."""

    def c(model, attack, acc):
        return {
            "model": model,
            "attack": attack,
            "threat": "whitebox",
            "eps": [0, 0.5, 0.9],
            "acc": acc,
            "n_images": 100,
        }

    results = {
        "curves": [
            c("m", "fgsm", [0.9, 0.0, 0.07]),
            c("m", "pgd", [0.9, 0.0, 0.0]),
            c("bad", "pgd", [0.9, 0.0, 0.3]),
            c("noisy", "pgd", [0.9, 0.0, 0.03]),
        ]
    }
    out = sanity.accuracy_falls_with_eps(results)
    assert out["m"]["passed"] and "FGSM alone" in out["m"]["detail"]  # 0 -> 7 images: beyond the margin of 3
    assert not out["bad"]["passed"]
    assert out["noisy"]["passed"], out["noisy"]  # 0 -> 3 of 100 images: within the 95% noise of 0


# --- has the evaluation converged? ----------------------------------------------------------------


def test_convergence_check_quiet_on_honest_fires_on_unconverged(robust_model, robust_eps, test_batch):
    """On the FGSM-RS-trained fixture, fixed-step PGD-10 (the curves' attack) overstates robustness by
    about 15 points against APGD, far beyond the 3-point limit: the check fires, as it does for PGD-1; on
    the undefended model it is quiet (test_checks_pass_on_an_honest_undefended_model)."""
    x, y = test_batch[0][:200], test_batch[1][:200]
    ce = predict(robust_model, advlab.apgd(robust_model, x, y, robust_eps, 50, seed=0)) == y
    idx = ce.nonzero().squeeze(1)
    ce[idx] = (
        predict(
            robust_model,
            advlab.apgd(robust_model, x[idx], y[idx], robust_eps, 50, "dlr", targeted=True, n_target_classes=3, seed=0),
        )
        == y[idx]
    )
    pgd10 = sanity.check_model(robust_model, x, y, robust_eps, steps=10, apgd_robust=ce)["evaluation_converged"]
    assert not pgd10["passed"], pgd10
    stalled = sanity.check_model(robust_model, x, y, robust_eps, steps=1, apgd_robust=ce)["evaluation_converged"]
    assert not stalled["passed"], stalled


def test_convergence_check_on_results():
    """The PGD curve at the robust evaluation's eps against APGD-CE then APGD-T on the curve's images
    (the first n of the evaluation's per-image mask)."""
    mask = [True] * 60 + [False] * 40 + [True] * 100  # 60% robust on the first 100 images
    results = {
        "curves": [
            {
                "model": "ok",
                "attack": "pgd",
                "threat": "whitebox",
                "eps": [0.0, 0.3],
                "acc": [0.99, 0.62],
                "n_images": 100,
            },
            {
                "model": "stalled",
                "attack": "pgd",
                "threat": "whitebox",
                "eps": [0.0, 0.3],
                "acc": [0.99, 0.80],
                "n_images": 100,
            },
        ],
        "models": {
            m: {
                "clean_acc": 0.99,
                "robust_eval": {
                    "eps": 0.3,
                    "n_images": 200,
                    "per_attack": {"apgd_ce": {"per_image_robust": [True] * 200}, "apgd_t": {"per_image_robust": mask}},
                },
            }
            for m in ("ok", "stalled")
        },
    }
    out = sanity.evaluation_converged(results)
    assert out["ok"]["passed"] and "60.0%" in out["ok"]["detail"]
    assert not out["stalled"]["passed"]
    assert "evaluation_converged" in sanity.run_checks(results)


def _strength(restarts: dict, steps=None, independent=True, n=100) -> dict:
    rec = {"eps": 0.3, "n_images": n, "steps": steps or {"10": 0.5, "20": 0.5}, "restarts": restarts}
    return sanity.more_steps_restarts_not_weaker({"pgd_strength": {"m": rec | {"independent_restarts": independent}}})


def test_independent_restarts_can_fail():
    """Restarts from the single run's own seed cannot be weaker, so they are not judged; independent
    ones are, and fail when they leave more images correct than the single run beyond noise."""
    out = _strength({"1": 0.5, "3": 0.5}, independent=False)["m"]
    assert out["passed"] and "not judged" in out["detail"]
    out = _strength({"1": 0.5, "3": 0.65})["m"]  # 15 images more on 100: the margin at 50 of 100 is 9
    assert not out["passed"] and "more restarts left 15 more images correct, noise margin 9" in out["detail"]
    assert not _strength({"1": 0.5, "3": 0.5}, steps={"10": 0.3, "20": 0.45})["m"]["passed"]  # 2k steps: +15
    assert sanity.more_steps_restarts_not_weaker({"pgd_strength": {"m": {"restarts": {"1": 0.5, "3": 0.9}}}}) == {}


def test_restarts_judged_in_images_with_the_95_percent_noise_margin():
    """1 restart at 53 of 100 images: 3 independent restarts may leave up to 53 + 9 correct (the upper end of
    the 95% Wilson interval of 53/100); the float32 accuracies of 54 and 53 images compare as 54 vs 53."""
    assert _strength({"1": 0.52999997, "3": 0.54000002})["m"]["passed"]
    assert _strength({"1": 0.53, "3": 0.62})["m"]["passed"]
    out = _strength({"1": 0.53, "3": 0.63})["m"]
    assert not out["passed"] and "63.0% (63/100)" in out["detail"], out
    assert _strength({"1": 0.53, "3": 0.63}, n=1000)["m"]["passed"] is False  # 530 -> 630 of 1000: far beyond
    assert _strength({"1": 0.53, "3": 0.55}, n=1000)["m"]["passed"]  # +20 of 1000: margin 30


def test_pgd_strength_record(trained_model, test_batch):
    x, y = test_batch[0][:100], test_batch[1][:100]
    rec = sanity.pgd_strength(trained_model, x, y, 0.1, 5)
    assert (
        rec["independent_restarts"] and set(rec["steps"]) == {"5", "10"} and rec["restarts"]["1"] == rec["steps"]["5"]
    )
    assert rec["n_images"] == 100 and all(count(a, 100) / 100 == a for a in rec["steps"].values())  # exact k / n
    out = sanity.more_steps_restarts_not_weaker({"pgd_strength": {"b": rec}})["b"]
    assert out["passed"], out  # within the 95% noise on 100 images (about 9 images at 50%)


def test_guard_judged_by_apgd_where_pgd_overstates(robust_model, robust_eps, test_batch):
    """On the FGSM-RS fixture PGD-10 overstates robustness (see the convergence test above); the guard
    with APGD-CE counts an image only if it survives both, so it is never above PGD's number, and lower here."""
    x, y = test_batch[0][:200], test_batch[1][:200]
    pgd_only = adversarial_training.guard_accuracy(robust_model, x, y, robust_eps, 10, seed=0)
    both = adversarial_training.guard_accuracy(robust_model, x, y, robust_eps, 10, apgd_steps=20, seed=0)
    assert pgd_only == adversarial_training.pgd_accuracy(robust_model, x, y, robust_eps, 10, seed=0)
    # the masks are nested (an image counts only if it survives both), so any gap is real, not sampling noise;
    # its size varies with the fixture's training, so the test asks only that APGD-CE finds something
    k_pgd, k_both = count(pgd_only, 200), count(both, 200)
    assert k_both < k_pgd, f"APGD found nothing PGD missed: {k_both} vs {k_pgd} of 200 images"


def test_convergence_check_judges_the_apgd_curve_where_recorded():
    """A model whose PGD curve stalls but whose APGD-CE curve is recorded is judged on the APGD-CE curve."""
    mask = [True] * 60 + [False] * 40
    curve = {"threat": "whitebox", "eps": [0.0, 0.3], "n_images": 100}
    results = {
        "curves": [
            {**curve, "model": "m", "attack": "pgd", "acc": [0.99, 0.80]},
            {**curve, "model": "m", "attack": "apgd", "acc": [0.99, 0.61]},
            {**curve, "model": "pgd_only", "attack": "pgd", "acc": [0.99, 0.80]},
        ],
        "models": {
            m: {"robust_eval": {"eps": 0.3, "per_attack": {"apgd_t": {"per_image_robust": mask}}}}
            for m in ("m", "pgd_only")
        },
    }
    out = sanity.evaluation_converged(results)
    assert out["m"]["passed"] and out["m"]["detail"].startswith("eps 0.3: APGD curve 61.0%"), out["m"]
    assert not out["pgd_only"]["passed"] and "PGD curve 80.0%" in out["pgd_only"]["detail"]


def test_model_check_judges_the_curves_attack_when_given(robust_model, robust_eps, test_batch):
    """check_model's evaluation_converged judges ``curve_robust`` (the curves' attack) instead of PGD-k."""
    x, y = test_batch[0][:50], test_batch[1][:50]
    apgd_mask = robust.apgd_robust(robust_model, x, y, robust_eps, 10, 2, seed=0)
    same = sanity.check_model(robust_model, x, y, robust_eps, steps=1, apgd_robust=apgd_mask, curve_robust=apgd_mask)
    assert same["evaluation_converged"]["passed"] and "APGD-CE" in same["evaluation_converged"]["detail"]
    clean = predict(robust_model, x) == y  # a "curve" that attacks nothing: far above APGD
    loose = sanity.check_model(robust_model, x, y, robust_eps, steps=1, apgd_robust=apgd_mask, curve_robust=clean)
    assert not loose["evaluation_converged"]["passed"], loose["evaluation_converged"]


def test_apgd_curve_reuses_the_robust_evaluation(tmp_path, monkeypatch):
    """The white-box APGD-CE curve of a shipped smoke model: clean accuracy at eps 0, falling with eps, at
    otf_eps the robust evaluation's APGD-CE on the same images; the curves' check judges it."""
    from advlab.course import artifacts, robustness
    from advlab.course.curves import curve
    from advlab.course.profiles import config

    monkeypatch.setattr(artifacts, "ROOT", tmp_path)
    cfg = config("smoke", device="cpu", pretrained=True)
    c = curve(cfg, "fast_pgd_adv", "apgd", "whitebox", [0.0, 0.15, cfg.otf_eps])
    r = robustness.robust_eval(cfg, "fast_pgd_adv")
    n = cfg.n_pgd_test
    assert c["attack"] == "apgd" and c["n_images"] == n and c["acc"][0] >= c["acc"][1] >= c["acc"][2]
    assert c["acc"][2] == sum(r["per_attack"]["apgd_ce"]["per_image_robust"][:n]) / n
    pgd_curve = curve(cfg, "fast_pgd_adv", "pgd", "whitebox", [0.0, 0.15, cfg.otf_eps])
    assert count(c["acc"][1], n) <= count(pgd_curve["acc"][1], n) + 3  # APGD no weaker than PGD-3 beyond noise
    results = {"curves": [c], "models": {"fast_pgd_adv": {"robust_eval": r}}}
    detail = sanity.evaluation_converged(results)["fast_pgd_adv"]["detail"]
    assert detail.startswith(f"eps {cfg.otf_eps:g}: APGD curve {100 * c['acc'][2]:.1f}%"), detail
    assert robustness.apgd_curve_models(["fast_adv", "fast_pgd_adv", "madry_adv"]) == ["fast_pgd_adv", "madry_adv"]


def test_loss_along_directions_tells_a_masked_gradient(trained_model, test_batch):
    """Along the gradient's sign the loss of an honest model rises above random directions on nearly every
    image; rounding the input (zero gradient) leaves the gradient direction no better than random."""
    from advlab.evaluation import landscape

    x, y = test_batch[0][:100], test_batch[1][:100]
    honest = landscape.loss_along_directions(trained_model, x, y, 0.2, points=5, n_random=2)
    assert honest["t"] == [0.0, 0.05, 0.1, 0.15, 0.2] and honest["n_images"] == 100
    assert honest["gradient"][-1] > honest["random"][-1] and landscape.gradient_informative(honest)
    assert honest["wrong_at_eps"]["gradient"] > honest["wrong_at_eps"]["random"]
    masked = landscape.loss_along_directions(Quantized(trained_model).eval(), x, y, 0.2, points=5, n_random=2)
    assert not landscape.gradient_informative(masked), masked
    with pytest.raises(ValueError, match="points"):
        landscape.loss_along_directions(trained_model, x, y, 0.2, points=1)
