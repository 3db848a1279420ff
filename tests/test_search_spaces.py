"""Search spaces: every bundled YAML file samples the prior it says, bad files fail with one clear line, and the
ConfigSpace works with Ray Tune's BOHB searcher. Real ConfigSpace sampling throughout, no mocks."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from search_spaces.loader import SPACES_DIR, SearchSpace, SpaceError, bundled_spaces, load_space

# new files (e.g. superglue/*.yaml) are picked up on their own; fixed configurations (constants alone) apart
SPACE_FILES = sorted(SPACES_DIR / f"{name}.yaml" for name in bundled_spaces())
N = 10_000


def write(tmp_path, text, name="space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "trainable: pretrain\nbudget: {min: 1, max: 9}\n"


def one_param(tmp_path, line, name="space.yaml") -> SearchSpace:
    return load_space(write(tmp_path, HEADER + "parameters:\n  " + line + "\n", name))


# -----------------------------------------------------------------------------
# every bundled file: the samples follow the prior it states


def test_bundled_files_are_found():
    names = bundled_spaces()
    assert "teacher_pretraining" in names and "tiny_demo" in names
    assert len(SPACE_FILES) == len(names)
    assert bundled_spaces(searchable=False) == ["student_table2", "teacher_table2"]
    assert len(names) + 2 == len(list(SPACES_DIR.rglob("*.yaml")))


def test_the_paper_teacher_is_a_fixed_configuration_of_table2():
    teacher = load_space(SPACES_DIR / "teacher_table2.yaml", searchable=False)
    assert teacher.params == {}
    assert {k: teacher.centre()[k] for k in ("lr", "num_epochs", "batch_size", "weight_decay", "lr_scheduler_type",
                                             "num_warmup_steps", "attention_dropout")} == \
        {"lr": 7e-4, "num_epochs": 8, "batch_size": 128, "weight_decay": 5.0, "lr_scheduler_type": "cosine",
         "num_warmup_steps": 600, "attention_dropout": 0.0}
    with pytest.raises(SpaceError, match="teacher_table2.yaml: parameters: must be a non-empty mapping"):
        load_space(SPACES_DIR / "teacher_table2.yaml")


def _close(got, want, what):
    tol = max(0.03 * abs(want), 0.05)
    assert abs(got - want) <= tol, f"{what}: got {got:.4f}, want {want:.4f} +- {tol:.3f}"


@pytest.mark.parametrize("path", SPACE_FILES, ids=lambda p: p.relative_to(SPACES_DIR).as_posix())
def test_samples_follow_the_stated_priors(path):
    space = load_space(path)
    cs = space.to_configspace(seed=0)
    # the whole path on 250 configurations: ConfigSpace -> to_trainable_config -> JSON-able, in support, constants
    # (the statistics below take N draws of the same objects, without building a Configuration each)
    for config in cs.sample_configuration(250):
        m = space.to_trainable_config(config)
        json.dumps(m)
        assert all(p.in_support(m[p.name]) for p in space.params.values())
        assert {k: m[k] for k in space.constants} == space.constants

    # the statistics on N draws of the same hyperparameter objects (what sample_configuration does column by
    # column; building N Configuration objects would cost seconds per file)
    rng = np.random.RandomState(0)
    columns = {name: cs[name].sample_value(N, seed=rng) for name in cs}
    raw = [{name: col[i] for name, col in columns.items()} for i in range(N)]  # ConfigSpace values (log__<name>)
    mapped = [space.to_trainable_config(c) for c in raw]                       # what the trainable gets

    for p in space.params.values():
        z = np.array([c[p.cs_name] for c in raw]) if p.kind != "choice" else None
        x = [m[p.name] for m in mapped]
        assert all(p.in_support(v) for v in x), f"{p.name}: a sample outside its support"
        what = f"{path.name}: {p.name}"

        if p.kind in ("log_normal", "q_log_normal"):
            # z is a normal truncated to [lower, upper]; compare with that distribution's moments (for the default
            # mu +- 4 sigma they are mu and sigma to 1e-3)
            assert p.lower <= z.min() and z.max() <= p.upper, what
            a, b = (p.lower - p.mu) / p.sigma, (p.upper - p.mu) / p.sigma
            want = stats.truncnorm(a, b, loc=p.mu, scale=p.sigma)
            x = np.array(x, dtype=float)
            if p.kind == "log_normal":
                assert np.allclose(np.log(x), z, rtol=0, atol=1e-9), f"{what}: x != exp(z)"
                z = np.log(x)  # the statistics below are then those of what the trainable gets
            else:
                q = p.q
                assert np.all(x % q == 0) and np.all(x >= q), f"{what}: not a positive multiple of q={q}"
                # the nearest multiple of q to exp(z), and q below that
                assert np.all(np.abs(x - np.maximum(np.exp(z), q)) <= q / 2 + 1e-9), f"{what}: not rounded to q"
            _close(z.mean(), want.mean(), f"{what}: mean of log")
            _close(z.std(), want.std(), f"{what}: std of log")

        elif p.kind == "q_log_uniform":  # the superglue spaces' batch size: z = log(x) uniform, x rounded to q
            x, q = np.array(x, dtype=float), p.q
            assert p.lower <= z.min() and z.max() <= p.upper, what
            assert np.all(x % q == 0) and np.all(x >= q), f"{what}: not a positive multiple of q={q}"
            assert np.all(np.abs(x - np.maximum(np.exp(z), q)) <= q / 2 + 1e-9), f"{what}: not rounded to q"
            assert stats.kstest(z, "uniform", args=(p.lower, p.upper - p.lower)).pvalue > 0.001, f"{what}: not uniform"

        elif p.kind in ("log_uniform", "uniform"):
            x = np.array(x)
            assert np.all((p.lower <= x) & (x <= p.upper)), what
            t, lo, hi = (np.log(x), math.log(p.lower), math.log(p.upper)) if p.kind == "log_uniform" \
                else (x, p.lower, p.upper)
            assert stats.kstest(t, "uniform", args=(lo, hi - lo)).pvalue > 0.001, f"{what}: not uniform"

        elif p.kind == "int_uniform":
            x = np.array(x)
            assert all(isinstance(v, int) for v in x.tolist()) and x.min() >= p.lower and x.max() <= p.upper, what
            jitter = np.random.default_rng(0).uniform(0, 1, size=len(x))  # makes the integers a continuous uniform
            assert stats.kstest(x + jitter, "uniform", args=(p.lower, p.upper + 1 - p.lower)).pvalue > 0.001, what

        else:  # choice
            assert set(map(repr, x)) <= set(map(repr, p.args)), what
            for option in p.args:
                freq = sum(v == option and type(v) is type(option) for v in x) / N
                assert abs(freq - 1 / len(p.args)) <= 0.02, f"{what}: {option!r} drawn {freq:.3f}"


def test_log_normal_sigma_one_really_spreads(tmp_path):
    # guards the ConfigSpace pitfall: NormalFloatHyperparameter(log=True, sigma=1) draws from a spike
    space = one_param(tmp_path, "x: {log_normal: [0, 1]}")
    x = np.array([c["x"] for c in space.sample(2000, seed=1)])
    assert np.log(x).std() > 0.9
    assert 0.5 < np.median(x) < 2  # centred on exp(0) = 1


# -----------------------------------------------------------------------------
# the teacher sweep file is the paper's sweep


def test_teacher_priors_are_the_papers():
    space = load_space(SPACES_DIR / "teacher_pretraining.yaml")
    got = {name: (p.kind, p.args) for name, p in space.params.items()}
    assert got == {
        "batch_size": ("q_log_normal", (5, 1.5, 1)),
        "num_epochs": ("q_log_normal", (1.8, 0.7, 1)),
        "lr": ("log_normal", (-7.3, 0.7)),
        "one_minus_adam_beta1": ("log_uniform", (1e-2, 1)),
        "one_minus_adam_beta2": ("log_uniform", (1e-4, 1e-2)),
        "adam_epsilon": ("log_normal", (-13.8, 3.5)),
        "lr_scheduler_type": ("choice", ("linear", "cosine")),
        "weight_decay": ("log_normal", (1, 1.5)),
        "max_grad_norm": ("log_normal", (0, 1)),
        "num_warmup_steps": ("q_log_normal", (5.7, 1, 1)),
        "attention_dropout": ("uniform", (0, 1)),
    }
    assert space.constants == {"preset": "smollm-345m", "seq_length": 128, "seed": 0}
    assert (space.trainable, space.metric, space.mode) == ("pretrain", "val_loss", "min")
    assert space.budget_min >= 1 and space.budget_max >= 8  # the paper's teachers train 8 epochs


def test_teacher_centre():
    c = load_space(SPACES_DIR / "teacher_pretraining.yaml").centre()
    assert c["lr"] == math.exp(-7.3)
    assert c["adam_epsilon"] == math.exp(-13.8)
    assert c["weight_decay"] == math.exp(1)
    assert c["max_grad_norm"] == 1.0
    assert (c["batch_size"], c["num_epochs"], c["num_warmup_steps"]) == (148, 6, 299)  # exp(5), exp(1.8), exp(5.7)
    assert all(isinstance(c[k], int) for k in ("batch_size", "num_epochs", "num_warmup_steps"))
    assert c["one_minus_adam_beta1"] == pytest.approx(0.1)    # geometric mean of 1e-2 and 1
    assert c["one_minus_adam_beta2"] == pytest.approx(1e-3)
    assert c["lr_scheduler_type"] == "linear"
    assert c["attention_dropout"] == 0.5
    assert c["preset"] == "smollm-345m" and c["seq_length"] == 128 and c["seed"] == 0


# -----------------------------------------------------------------------------
# mapping ConfigSpace values to trainable arguments


def test_q_log_normal_rounds_half_up_and_stays_in_bounds(tmp_path):
    space = one_param(tmp_path, "bs: {q_log_normal: [3.47, 0.5, 4], bounds: [4, 131]}\n  n: {q_log_normal: [1, 1, 1]}")
    to = lambda z: space.to_trainable_config({"log__bs": z, "log__n": 1.0})["bs"]
    assert to(math.log(10)) == 12      # 10/4 = 2.5 (and a hair) rounds to 3 -> 12
    assert to(math.log(33)) == 32
    assert to(math.log(4)) == 4
    assert to(math.log(131)) == 132    # the upper bound rounds like the values...
    assert space.params["bs"].q_range() == (4, 132)
    assert space.centre()["bs"] == 32  # exp(3.47) = 32.1
    n = lambda z: space.to_trainable_config({"log__bs": 3.47, "log__n": z})["n"]
    assert n(math.log(2.5)) == 3        # exactly 2.5: half up (Python's round() would give 2)
    assert n(-3.0) == 1                 # nothing below q: exp(1 - 4) = 0.05 would round to 0
    assert space.params["n"].q_range() == (1, 148)  # exp(5) = 148.4


def test_q_log_uniform_rounds_a_log_uniform_to_q(tmp_path):
    """The superglue spaces' batch size: log(x) uniform on [log min, log max], rounded half up to a multiple of q."""
    space = one_param(tmp_path, "bs: {q_log_uniform: [1, 32, 1]}\n  w: {q_log_uniform: [10, 1000, 10]}")
    bs, w = space.params["bs"], space.params["w"]
    assert (bs.cs_name, bs.lower, bs.upper) == ("log__bs", 0.0, math.log(32))
    assert bs.q_range() == (1, 32) and w.q_range() == (10, 1000)
    to = lambda z: space.to_trainable_config({"log__bs": z, "log__w": math.log(100)})["bs"]
    assert (to(0.0), to(math.log(2.5)), to(math.log(31.4)), to(math.log(32))) == (1, 3, 31, 32)
    assert space.centre()["bs"] == 6 and space.centre()["w"] == 100  # the rounded geometric mean
    once = space.to_trainable_config({"log__bs": 1.0, "log__w": 4.0})
    assert once == {"bs": 3, "w": 50} and space.to_trainable_config(once) == once
    with pytest.raises(SpaceError, match="'bs'"):
        space.to_trainable_config({"bs": 2.5, "w": 50})  # not an integer: no value of the prior


def test_to_trainable_config_is_idempotent_and_strict(tmp_path):
    space = one_param(tmp_path, "lr: {log_normal: [-7.3, 0.7]}\n  drop: {uniform: [0, 1]}\n  preset: tiny")
    once = space.to_trainable_config({"log__lr": -7.0, "drop": 0.25})
    assert once == {"lr": math.exp(-7.0), "drop": 0.25, "preset": "tiny"}
    assert space.to_trainable_config(once) == once  # already in trainable form: checked and kept

    bad = [({"log__lr": -7.0, "lr": 1e-3, "drop": 0.2}, "lr"),   # both forms
           ({"drop": 0.2}, "lr"),                                # missing
           ({"log__lr": -2.0, "drop": 0.2}, "lr"),               # outside mu +- 4 sigma
           ({"lr": -1e-3, "drop": 0.2}, "lr"),                   # not a value of the prior
           ({"log__lr": -7.0, "drop": 1.5}, "drop"),
           ({"log__lr": -7.0, "drop": 0.2, "preset": "big"}, "preset"),  # a constant changed
           ({"log__lr": -7.0, "drop": 0.2, "lr_typo": 1}, "lr_typo")]    # not in the space
    for sampled, name in bad:
        with pytest.raises(SpaceError, match=f"space.yaml: .*'{name}'"):
            space.to_trainable_config(sampled)


def test_sample_is_seeded(tmp_path):
    space = load_space(SPACES_DIR / "tiny_demo.yaml")
    assert space.sample(5, seed=3) == space.sample(5, seed=3)
    assert space.sample(5, seed=3) != space.sample(5, seed=4)
    assert len(space.sample(1, seed=0)) == 1 and space.sample(0, seed=0) == []


def test_yaml_exponents_without_a_dot_are_numbers(tmp_path):
    # plain PyYAML would read 1e-3 as the string '1e-3'
    space = one_param(tmp_path, "beta: {log_uniform: [1e-3, 1E-1]}\n  wd: 2e-2")
    assert space.params["beta"].args == (1e-3, 1e-1) and space.constants["wd"] == 0.02


# -----------------------------------------------------------------------------
# bad files: SpaceError, one line, naming the file and the parameter

BAD_PARAMETERS = {
    "unknown kind": ("lr: {gaussian: [0, 1]}", "lr"),
    "two kinds": ("lr: {log_normal: [0, 1], uniform: [0, 1]}", "lr"),
    "too few args": ("lr: {log_normal: [-7.3]}", "lr"),
    "too many args": ("bs: {q_log_normal: [5, 1.5]}", "bs"),
    "args not a list": ("lr: {log_normal: -7.3}", "lr"),
    "arg not a number": ("lr: {log_normal: [high, 1]}", "lr"),
    "min > max": ("drop: {uniform: [1, 0]}", "drop"),
    "min == max": ("layers: {int_uniform: [3, 3]}", "layers"),
    "int_uniform float": ("layers: {int_uniform: [2, 8.5]}", "layers"),
    "sigma < 0": ("lr: {log_normal: [-7.3, -1]}", "lr"),
    "sigma == 0": ("lr: {log_normal: [-7.3, 0]}", "lr"),
    "log_uniform min 0": ("beta: {log_uniform: [0, 1]}", "beta"),
    "log_uniform min < 0": ("beta: {log_uniform: [-1, 1]}", "beta"),
    "log bound 0": ("lr: {log_normal: [-7.3, 0.7], bounds: [0, 1.0e-2]}", "lr"),
    "bounds reversed": ("lr: {log_normal: [-7.3, 0.7], bounds: [1.0e-2, 1.0e-5]}", "lr"),
    "bounds miss centre": ("lr: {log_normal: [-7.3, 0.7], bounds: [1.0e-2, 1.0e-1]}", "lr"),
    "bounds on uniform": ("drop: {uniform: [0, 1], bounds: [0, 1]}", "drop"),
    "q == 0": ("bs: {q_log_normal: [5, 1.5, 0]}", "bs"),
    "q < 0": ("bs: {q_log_normal: [5, 1.5, -4]}", "bs"),
    "q not integer": ("bs: {q_log_normal: [5, 1.5, 0.5]}", "bs"),
    "q collapses": ("bs: {q_log_normal: [0, 0.1, 4]}", "bs"),  # every draw rounds to 4
    "q_log_uniform min 0": ("bs: {q_log_uniform: [0, 32, 1]}", "bs"),
    "q_log_uniform reversed": ("bs: {q_log_uniform: [32, 1, 1]}", "bs"),
    "q_log_uniform no q": ("bs: {q_log_uniform: [1, 32]}", "bs"),
    "q_log_uniform q 0": ("bs: {q_log_uniform: [1, 32, 0]}", "bs"),
    "q_log_uniform collapses": ("bs: {q_log_uniform: [1, 1.4, 1]}", "bs"),  # every draw rounds to 1
    "empty choice": ("sched: {choice: []}", "sched"),
    "one-option choice": ("sched: {choice: [linear]}", "sched"),
    "repeated choice": ("sched: {choice: [linear, linear]}", "sched"),
    "reserved name": ("log__lr: {log_normal: [-7.3, 0.7]}", "log__lr"),
    "slash in name": ("a/b: {uniform: [0, 1]}", "a/b"),
}


@pytest.mark.parametrize("line,name", BAD_PARAMETERS.values(), ids=BAD_PARAMETERS.keys())
def test_bad_parameter(tmp_path, line, name):
    with pytest.raises(SpaceError) as e:
        one_param(tmp_path, line, name="bad_space.yaml")
    msg = str(e.value)
    assert "bad_space.yaml" in msg and f"'{name}'" in msg and "\n" not in msg, msg


BAD_FILES = {
    "mode": (HEADER + "mode: maximise\nparameters: {x: {uniform: [0, 1]}}", "mode"),
    "budget min > max": ("trainable: pretrain\nbudget: {min: 9, max: 3}\nparameters: {x: {uniform: [0, 1]}}", "budget"),
    "budget min 0": ("trainable: pretrain\nbudget: {min: 0, max: 3}\nparameters: {x: {uniform: [0, 1]}}", "budget"),
    "budget missing": ("trainable: pretrain\nparameters: {x: {uniform: [0, 1]}}", "budget"),
    "no trainable": ("budget: {min: 1, max: 3}\nparameters: {x: {uniform: [0, 1]}}", "trainable"),
    "bad trainable": ("trainable: my module\nbudget: {min: 1, max: 3}\nparameters: {x: {uniform: [0, 1]}}", "trainable"),
    "unknown key": (HEADER + "paramters: {x: {uniform: [0, 1]}}", "paramters"),
    "no parameters": (HEADER, "parameters"),
    "only constants": (HEADER + "parameters: {x: 1}", "parameters"),
    "constant twice": (HEADER + "constants: {x: 1}\nparameters: {x: {uniform: [0, 1]}}", "x"),
}


@pytest.mark.parametrize("text,name", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file(tmp_path, text, name):
    with pytest.raises(SpaceError) as e:
        load_space(write(tmp_path, text, "bad_space.yaml"))
    msg = str(e.value)
    assert "bad_space.yaml" in msg and name in msg and "\n" not in msg, msg


@pytest.mark.parametrize("text", ["a: [1, 2\nb: {", "- 1\n- 2\n", "just words\n", ""],
                         ids=["not yaml", "a list", "a string", "empty"])
def test_unreadable_file(tmp_path, text):
    with pytest.raises(SpaceError) as e:
        load_space(write(tmp_path, text, "bad_space.yaml"))
    assert "bad_space.yaml" in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="nowhere.yaml: .*not found"):
        load_space(tmp_path / "nowhere.yaml")
    with pytest.raises(SpaceError, match="tiny_demo"):  # an unknown bundled name lists the known ones
        load_space("no_such_space")


def test_bundled_name_loads_the_file():
    assert load_space("tiny_demo").path == SPACES_DIR / "tiny_demo.yaml"


def test_check_names(tmp_path):
    space = one_param(tmp_path, "lr: {log_normal: [-7.3, 0.7]}\n  warmup_steps: {q_log_normal: [3, 1, 1]}\n  seed: 0")
    space.check_names(["lr", "warmup_steps", "seed", "other"], "pretrain")  # all known: fine
    with pytest.raises(SpaceError) as e:
        space.check_names(["lr", "num_warmup_steps", "seed"], "pretrain")
    msg = str(e.value)
    assert "space.yaml" in msg and "'warmup_steps'" in msg and "pretrain" in msg and "num_warmup_steps" in msg
    with pytest.raises(SpaceError, match="constant 'seed'"):
        space.check_names(["lr", "warmup_steps"], "pretrain")


# -----------------------------------------------------------------------------
# Ray Tune's BOHB searcher takes the ConfigSpace as it is


@pytest.mark.filterwarnings("ignore::DeprecationWarning:hpbandster.*")  # its ConfigSpace 0.x calls, hundreds per run
@pytest.mark.filterwarnings("ignore::FutureWarning")                     # statsmodels' numpy random notice
def test_tune_bohb_suggestions_map_into_the_space():
    from ray.tune.search.bohb import TuneBOHB  # a few seconds: the one test that imports Ray

    space = load_space(SPACES_DIR / "tiny_demo.yaml")
    np.random.seed(0)  # hpbandster draws its model-based picks from numpy's global generator
    searcher = TuneBOHB(space=space.to_configspace(), metric="val_loss", mode="min", seed=0,
                        bohb_config={"random_fraction": 0.0, "min_points_in_model": 10})
    # random phase: feed a loss that is best at lr = exp(-5), so BOHB's KDE has something to learn
    for i in range(30):
        config = space.to_trainable_config(searcher.suggest(f"t{i}"))
        assert config["preset"] == "tiny"
        loss = (math.log(config["lr"]) + 5.0) ** 2
        searcher.on_trial_result(f"t{i}", {"val_loss": loss, "hyperband_info": {"budget": 1}})
    assert 1 in searcher.bohber.kde_models  # a model was fitted on log__lr etc.

    # model phase: the KDE works on ConfigSpace's [0, 1] vectors; its picks must map back into the space
    picks = []
    for i in range(15):
        raw, info = searcher.bohber.get_config(None)
        assert info["model_based_pick"], "hpbandster fell back to random sampling"
        config = space.to_trainable_config(raw)  # raises if outside the space
        picks.append(config)
        space.to_trainable_config(searcher.suggest(f"m{i}"))  # and through TuneBOHB.suggest
    log_lr = np.log([c["lr"] for c in picks])
    assert np.median(np.abs(log_lr + 5.0)) < 0.35  # the prior alone is centred at -5.8, 0.8 away


# -----------------------------------------------------------------------------
# the superglue spaces: the authors' wide priors, BOHB over epochs


def test_superglue_spaces_have_the_authors_wide_priors_and_epochs_as_budget():
    from trainables import glue
    from trainables.finetune import ACCEPTED

    files = sorted((SPACES_DIR / "superglue").glob("*.yaml"))
    assert {p.stem for p in files} == set(glue.TRAINED)  # one per task; MNLI-mm is scored by the mnli run
    for path in files:
        task, space = path.stem, load_space(path)
        t4 = glue.TABLE4[task]
        space.check_names(ACCEPTED, "finetune")
        assert (space.trainable, space.metric, space.mode) == ("finetune", "score", "max")
        epochs = max(10, t4["num_epochs"])  # 24 for WSC, 10 for the others
        assert (space.budget_min, space.budget_max) == (1, epochs)
        assert space.constants == {"task": task, "seed": 12, "num_epochs": epochs}  # the schedule runs to the budget
        p = space.params
        assert set(p) == {"lr", "batch_size", "weight_decay", "lr_scheduler_type", "num_warmup_steps"}
        assert (p["batch_size"].kind, p["batch_size"].args) == ("q_log_uniform", (1, 32, 1))
        assert p["lr_scheduler_type"].kind == "choice"
        assert set(p["lr_scheduler_type"].args) == {"linear", "cosine", "constant"}
        assert p["lr_scheduler_type"].args[0] == t4["lr_scheduler_type"]
        widths = {"lr": ("log_normal", 1), "weight_decay": ("log_normal", 1.5), "num_warmup_steps": ("q_log_normal", 1)}
        for name, (kind, sigma) in widths.items():
            assert (p[name].kind, p[name].sigma) == (kind, sigma), (task, name)
        assert p["num_warmup_steps"].q == 1
        # the centres: the authors' own RTE sweep; Table 4 for every other task (written in the file's header)
        centre = {"lr": -9.9, "weight_decay": 0.0, "num_warmup_steps": 5.7} if task == "rte" else \
            {name: math.log(t4[name]) for name in widths}
        for name, mu in centre.items():
            assert p[name].mu == pytest.approx(mu, abs=1e-12), (task, name)
        header = path.read_text().split("\nname:")[0]
        assert f"Table 4: lr {t4['lr']:g}, batch {t4['batch_size']}, {t4['num_epochs']} epoch" in header
        assert f"{t4['lr_scheduler_type']} schedule, {t4['num_warmup_steps']} warm-up steps" in header
