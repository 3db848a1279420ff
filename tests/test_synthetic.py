"""The synthetic multi-fidelity functions (trainables/synthetic/): the published optimum, the low-fidelity ranking
each Hartmann variant promises, the trainables' reports and exact pause/resume through a local run, reproducible
counting ones, and their search spaces. Fast (no Ray) apart from one real tiny sweep, marked slow."""
import csv
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from search_spaces.loader import SPACES_DIR, load_space
from trainables.errors import ConfigError
from trainables.reporting import run_local
from trainables.synthetic import (GLOBAL_MINIMISER, GLOBAL_MINIMUM, INFORMATIVE_BIAS, MISLEADING_BIAS,
                                  counting_ones, hartmann6)
from trainables.synthetic import budget, counting, hartmann

HARTMANN = {"informative": (hartmann.hartmann6_informative, INFORMATIVE_BIAS),
            "misleading": (hartmann.hartmann6_misleading, MISLEADING_BIAS)}
X_STAR = dict(zip(hartmann.INPUTS, GLOBAL_MINIMISER))
X_OTHER = dict(zip(hartmann.INPUTS, (0.1, 0.9, 0.3, 0.5, 0.7, 0.2)))
ONES_CONFIG = {**{f"cat{i}": i % 2 for i in range(1, 9)}, **{f"cont{i}": i / 9 for i in range(1, 9)}}
TRAINABLES = {"hartmann6_informative": (hartmann.hartmann6_informative, X_OTHER),
              "hartmann6_misleading": (hartmann.hartmann6_misleading, X_OTHER),
              "counting_ones_trainable": (counting.counting_ones_trainable, ONES_CONFIG)}
LOWEST = 1 / 27  # the lowest rung of the bundled spaces: epoch 1 of 27


def uniform_points(n=500, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, 6))


# -----------------------------------------------------------------------------
# Hartmann 6-D


@pytest.mark.parametrize("bias", [0.0, INFORMATIVE_BIAS, MISLEADING_BIAS, (0.1, 0.2, 0.3, 0.4)])
def test_hartmann6_published_optimum_at_full_fidelity(bias):
    assert hartmann6(GLOBAL_MINIMISER, 1.0, bias) == pytest.approx(-3.32237, abs=1e-4)
    assert GLOBAL_MINIMUM == -3.32237
    # nothing below it among many points, nor next to it
    assert hartmann6(uniform_points(5000), 1.0, bias).min() > GLOBAL_MINIMUM
    nearby = np.array(GLOBAL_MINIMISER) + np.random.default_rng(1).normal(0, 1e-3, size=(200, 6))
    assert hartmann6(nearby, 1.0, bias).min() > GLOBAL_MINIMUM - 1e-5


def test_hartmann6_bias_lowers_each_weight_linearly_in_fidelity():
    x = uniform_points(50)
    # alpha'(z) = alpha - bias (1 - z): a bias equal to alpha wipes the function out at z = 0
    assert np.allclose(hartmann6(x, 0.0, hartmann.ALPHA), 0.0)
    # a scalar bias b at fidelity z gives the Hartmann function with every weight lowered by b (1 - z)
    terms = np.exp(-np.sum(hartmann.A * (x[:, None, :] - hartmann.P) ** 2, axis=-1))
    assert np.allclose(hartmann6(x, 0.25, 2.0), -(terms @ (hartmann.ALPHA - 1.5)))
    # many points at once give what one point at a time gives
    assert np.allclose(hartmann6(x, 0.5), [hartmann6(p, 0.5) for p in x])
    assert isinstance(hartmann6(x[0], 0.5), float)


@pytest.mark.parametrize("bad", [dict(x=[0.5] * 5), dict(x=[0.5] * 6, fidelity=1.5), dict(x=[0.5] * 6, bias=[1, 2])])
def test_hartmann6_refuses_bad_arguments(bad):
    with pytest.raises(ValueError):
        hartmann6(**bad)


def low_vs_full_spearman(bias, fidelity):
    x = uniform_points()
    return spearmanr(hartmann6(x, fidelity, bias), hartmann6(x, 1.0, bias))[0]


def test_informative_variant_ranks_well_at_low_fidelity():
    for rung in (1, 3, 9):  # BOHB's rungs below the full budget of 27 with eta = 3
        assert low_vs_full_spearman(INFORMATIVE_BIAS, rung / 27) > 0.8
    assert low_vs_full_spearman(INFORMATIVE_BIAS, LOWEST) > 0.99  # measured 0.996


def test_misleading_variant_ranks_badly_at_low_fidelity():
    assert low_vs_full_spearman(MISLEADING_BIAS, LOWEST) < -0.5  # measured -0.755: roughly backwards
    assert low_vs_full_spearman(MISLEADING_BIAS, 3 / 27) < 0.0   # measured -0.37
    assert low_vs_full_spearman(MISLEADING_BIAS, 9 / 27) < 0.3   # measured 0.26
    # and the low fidelity's best point is a bad one at full fidelity
    x = uniform_points()
    best_low = np.argmin(hartmann6(x, LOWEST, MISLEADING_BIAS))
    full = hartmann6(x, 1.0, MISLEADING_BIAS)
    assert (full < full[best_low]).mean() > 0.5


# -----------------------------------------------------------------------------
# counting ones


def test_counting_ones_exact_value_and_optimum():
    assert counting_ones([1] * 8, [1.0] * 8) == -16.0
    assert counting_ones([1] * 8, [1.0] * 8, samples=27, seed=5) == -16.0  # Bernoulli(1) always succeeds
    assert counting_ones([0] * 8, [0.0] * 8, samples=27) == 0.0
    assert counting_ones([1, 0, 1], [0.25, 0.5]) == -2.75


def test_counting_ones_is_reproducible_and_unbiased():
    x_cat, x_cont = [1, 0, 1, 0], [0.1, 0.4, 0.6, 0.9]
    once = [counting_ones(x_cat, x_cont, samples=b, seed=3) for b in (27, 81, 729)]
    assert once == [counting_ones(x_cat, x_cont, samples=b, seed=3) for b in (27, 81, 729)]
    assert counting_ones(x_cat, x_cont, samples=27, seed=4) != once[0]
    # each value is a mean of `samples` Bernoulli draws per input: a multiple of 1/samples, unbiased, and closer
    # to the exact value on a larger budget
    assert (-once[0] - 2) * 27 == pytest.approx(round((-once[0] - 2) * 27))
    exact = counting_ones(x_cat, x_cont)
    for b in (27, 729):
        values = np.array([counting_ones(x_cat, x_cont, samples=b, seed=s) for s in range(400)])
        assert values.mean() == pytest.approx(exact, abs=4 * values.std() / 20)
        assert values.std() == pytest.approx(np.sqrt(sum(p * (1 - p) for p in x_cont) / b), rel=0.2)


@pytest.mark.parametrize("bad", [dict(x_cat=[2], x_cont=[]), dict(x_cat=[], x_cont=[1.5]),
                                 dict(x_cat=[1], x_cont=[0.5], samples=0), dict(x_cat=[1], x_cont=[0.5], seed=-1)])
def test_counting_ones_refuses_bad_arguments(bad):
    with pytest.raises(ValueError):
        counting_ones(**bad)


# -----------------------------------------------------------------------------
# the trainables, run locally


@pytest.mark.parametrize("variant", HARTMANN)
def test_hartmann_trainable_reports_the_function_at_each_fidelity(tmp_path, variant):
    fn, bias = HARTMANN[variant]
    run = run_local(fn, {**X_STAR, "num_epochs": 27}, tmp_path)
    assert [r["epoch"] for r in run.results] == list(range(1, 28))
    assert all(isinstance(r["epoch"], int) for r in run.results)
    x = list(GLOBAL_MINIMISER)
    assert [r["val_loss"] for r in run.results] == [hartmann6(x, e / 27, bias) for e in range(1, 28)]
    assert run.results[-1]["val_loss"] == pytest.approx(GLOBAL_MINIMUM, abs=1e-4)
    assert len(run.checkpoints) == 27
    saved = json.loads((run.checkpoints[4] / budget.CHECKPOINT_FILE).read_text())
    assert saved == {"trainable": fn.__name__, "epoch": 5}


def test_counting_ones_trainable_reports_estimates_from_the_budgets_samples(tmp_path):
    config = {**ONES_CONFIG, "num_epochs": 9, "samples_per_epoch": 10, "seed": 7}
    run = run_local(counting.counting_ones_trainable, config, tmp_path / "a")
    x_cat = [ONES_CONFIG[f"cat{i}"] for i in range(1, 9)]
    x_cont = [ONES_CONFIG[f"cont{i}"] for i in range(1, 9)]
    assert [r["epoch"] for r in run.results] == list(range(1, 10))
    assert [r["val_loss"] for r in run.results] == [counting_ones(x_cat, x_cont, 10 * e, 7) for e in range(1, 10)]
    # a re-run gives the same values, another seed others
    assert run_local(counting.counting_ones_trainable, config, tmp_path / "b").results == run.results
    other = run_local(counting.counting_ones_trainable, {**config, "seed": 8}, tmp_path / "c").results
    assert [r["val_loss"] for r in other] != [r["val_loss"] for r in run.results]


def test_budget_step_and_fractional_budgets(tmp_path):
    run = run_local(hartmann.hartmann6_informative, {**X_OTHER, "num_epochs": 27, "budget_step": 2}, tmp_path / "a")
    assert [r["epoch"] for r in run.results] == list(range(2, 27, 2)) + [27]
    run = run_local(hartmann.hartmann6_informative, {**X_OTHER, "num_epochs": 2, "budget_step": 0.5}, tmp_path / "b")
    assert [r["epoch"] for r in run.results] == [0.5, 1, 1.5, 2]
    assert run.results[0]["val_loss"] == hartmann6(list(X_OTHER.values()), 0.25, INFORMATIVE_BIAS)


@pytest.mark.parametrize("name", TRAINABLES)
def test_paused_and_resumed_run_reports_what_an_uninterrupted_one_does(tmp_path, name):
    fn, inputs = TRAINABLES[name]
    config = {**inputs, "num_epochs": 27}
    whole = run_local(fn, config, tmp_path / "whole").results
    first = run_local(fn, config, tmp_path / "first", stop_after=3)
    assert [r["epoch"] for r in first.results] == [1, 2, 3]
    second = run_local(fn, config, tmp_path / "second", restore_from=first.checkpoints[-1], stop_after=10)
    third = run_local(fn, config, tmp_path / "third", restore_from=second.checkpoints[-1])
    assert first.results + second.results + third.results == whole


def test_a_checkpoint_of_another_trainable_is_refused(tmp_path):
    first = run_local(hartmann.hartmann6_informative, X_OTHER, tmp_path / "a", stop_after=2)
    with pytest.raises(ConfigError, match="hartmann6_informative"):
        run_local(hartmann.hartmann6_misleading, X_OTHER, tmp_path / "b", restore_from=first.checkpoints[-1])


@pytest.mark.parametrize("fn, config, match", [
    (hartmann.hartmann6_informative, {**X_OTHER, "lr": 1e-3}, "lr: not a parameter"),
    (hartmann.hartmann6_informative, {**X_OTHER, "x3": 1.5}, "x3: must be a number in"),
    (hartmann.hartmann6_informative, {"x1": 0.5}, "x2: required"),
    (hartmann.hartmann6_informative, {**X_OTHER, "num_epochs": 0}, "num_epochs: must be"),
    (counting.counting_ones_trainable, {"cat1": 1, "cat3": 0}, "cat3: categorical inputs must be numbered"),
    (counting.counting_ones_trainable, {"cat1": 2}, "cat1: must be 0 or 1"),
    (counting.counting_ones_trainable, {"num_epochs": 3}, "at least one input"),
    (counting.counting_ones_trainable, {"cont1": 0.5, "seed": 1.5}, "seed: must be"),
])
def test_trainables_refuse_bad_configs(tmp_path, fn, config, match):
    with pytest.raises(ConfigError, match=match):
        run_local(fn, config, tmp_path)


# -----------------------------------------------------------------------------
# the search spaces


SPACES = {"synthetic/hartmann6": "trainables.synthetic.hartmann:hartmann6_informative",
          "synthetic/hartmann6_misleading": "trainables.synthetic.hartmann:hartmann6_misleading",
          "synthetic/counting_ones": "trainables.synthetic.counting:counting_ones_trainable"}


@pytest.mark.parametrize("name", SPACES)
def test_search_spaces_fit_their_trainables(tmp_path, name):
    from sweep.kinds.base import accepted_names, resolve_trainable

    space = load_space(SPACES_DIR / f"{name}.yaml")
    assert space.trainable == SPACES[name]
    assert (space.budget_min, space.budget_max, space.constants["num_epochs"]) == (1, 27, 27)
    assert (space.metric, space.mode) == ("val_loss", "min")
    fn = resolve_trainable(space.trainable)
    space.check_names(accepted_names(fn), space.trainable)
    for config in space.sample(3, seed=0):  # a sampled configuration runs as it is
        run = run_local(fn, {**config, "budget_step": 9}, tmp_path / str(len(list(tmp_path.iterdir()))))
        assert [r["epoch"] for r in run.results] == [9, 18, 27]


# -----------------------------------------------------------------------------
# a real tiny sweep


@pytest.mark.slow
def test_tiny_bohb_sweep_of_hartmann6(tmp_path):
    from babysweep.cli import main

    trainable = "trainables.synthetic.hartmann:hartmann6_informative"
    assert main(["launch", str(SPACES_DIR / "synthetic" / "hartmann6.yaml"), "--trainable", trainable,
                 "--samples", "6", "--storage", str(tmp_path), "--name", "h", "--quiet"]) == 0
    with open(tmp_path / "h" / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6
    for row in rows:
        x = [float(row[f"config/x{j}"]) for j in range(1, 7)]
        epoch = float(row["epoch"])
        assert float(row["val_loss"]) == pytest.approx(hartmann6(x, epoch / 27, INFORMATIVE_BIAS), abs=1e-9)
