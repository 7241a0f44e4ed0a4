import numpy as np
import pytest
import torch
from seqzoo.training.metrics import auroc
from seqzoo.training.models import DEFAULTS, build_model, hyperparameters, load_run
from seqzoo.training.train import fit, predict, seed_everything
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError

torch.set_num_threads(1)


@pytest.mark.parametrize("task, classes, activation", [("binary", 2, "softmax"), ("multiclass", 4, "softmax"),
                                                      ("multilabel", 3, "sigmoid")])
@pytest.mark.parametrize("extra", [{}, {"head": "global"}, {"rnn": "gru", "bidirectional": True},
                                   {"rnn": "lstm", "conv_num": 1, "dense_num": 0}])
def test_output_shapes_and_activation_per_task(task, classes, activation, extra):
    model = build_model(extra, alphabet_size=4, n_classes=classes, length=50, task=task).eval()
    x = torch.zeros(3, 50, 4)
    assert model(x).shape == (3, classes)
    assert model.output_activation == activation
    probs = model.probabilities(torch.rand(5, 50, 4))
    assert probs.shape == (5, classes) and float(probs.detach().min()) >= 0
    if activation == "softmax":
        assert torch.allclose(probs.sum(dim=1), torch.ones(5), atol=1e-6)
    assert isinstance(model.first_conv, torch.nn.Conv1d) and model.first_conv.in_channels == 4
    assert model.first_conv.out_channels == DEFAULTS["kernel_num"]


def test_global_head_accepts_other_lengths_flatten_does_not():
    glob = build_model({"head": "global"}, 4, 2, 60, "binary").eval()
    assert glob.length_dynamic and glob(torch.zeros(2, 120, 4)).shape == (2, 2)
    flat = build_model({}, 4, 2, 60, "binary").eval()
    assert not flat.length_dynamic
    with pytest.raises(RuntimeError):
        flat(torch.zeros(2, 120, 4))


def test_multitask_models_get_their_own_defaults_and_flags_still_win():
    assert hyperparameters(task="binary") == DEFAULTS == hyperparameters(task="multiclass")
    multi = hyperparameters(task="multilabel")
    assert (multi["neuron_num"], multi["dropout_dense"]) == (256, 0.3)
    assert {k: v for k, v in multi.items() if k not in ("neuron_num", "dropout_dense")} == \
        {k: v for k, v in DEFAULTS.items() if k not in ("neuron_num", "dropout_dense")}
    assert hyperparameters({"neuron_num": 50}, task="multilabel")["neuron_num"] == 50


def test_bad_hyperparameters_name_the_parameter():
    with pytest.raises(InputError, match="unknown hyperparameter 'kernels'"):
        hyperparameters({"kernels": 3})
    with pytest.raises(InputError, match=r"rnn='transformer' is not valid \(one of none, gru, lstm\)"):
        hyperparameters({"rnn": "transformer"})
    with pytest.raises(InputError, match="dropout_conv=1.5"):
        hyperparameters({"dropout_conv": 1.5})
    with pytest.raises(InputError, match="too short"):
        build_model({"kernel_len": 20}, 4, 2, 30, "binary")
    assert hyperparameters({"kernel_num": "12", "bidirectional": "true"})["kernel_num"] == 12


def _toy(seed=0, n=320, length=30):
    """Positives carry GATA at the centre; an easy task a few epochs learn."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(n, length)).astype(np.uint8)
    codes[: n // 2, 13:17] = [2, 0, 3, 0]
    labels = np.zeros((n, 2), dtype=np.float32)
    labels[: n // 2, 1] = 1
    labels[n // 2:, 0] = 1
    return codes, labels


def _train(seed):
    codes, labels = _toy()
    seed_everything(seed)
    params = {"kernel_num": 8, "neuron_num": 16, "epochs": 8, "patience": 3, "batch_size": 16, "learning_rate": 0.005}
    model = build_model(params, 4, 2, 30, "binary")
    result = fit(model, codes[::2], labels[::2], codes[1::2], labels[1::2], get_alphabet("dna").table,
                 ["neg", "pos"], seed=seed, device="cpu", quiet=True)
    return model, result


def test_same_seed_same_weights_on_cpu():
    a, _ = _train(1)
    b, _ = _train(1)
    c, _ = _train(2)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.first_conv.weight, c.first_conv.weight)


def test_training_learns_and_load_run_round_trips(tmp_path):
    import json

    model, result = _train(0)
    codes, labels = _toy(seed=5)
    table = get_alphabet("dna").table
    probs = predict(model, codes, table)
    assert probs.shape == (len(codes), 2)
    assert auroc(labels[:, 1], probs[:, 1]) > 0.9  # held-out toy data: the planted GATA is learned
    assert result.best_epoch >= 1 and len(result.history) <= 8
    assert result.history[result.best_epoch - 1]["val_loss"] == min(h["val_loss"] for h in result.history)
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps({"model": model.params, "alphabet": get_alphabet("dna").to_dict(),
                                                      "length": 30, "task": "binary", "classes": ["neg", "pos"],
                                                      "structure": None}))
    loaded, config = load_run(tmp_path)
    assert not loaded.training and config["classes"] == ["neg", "pos"]
    assert np.allclose(predict(loaded, codes, table), probs, atol=1e-6)


def test_ctrl_c_keeps_the_best_model_so_far():
    """A KeyboardInterrupt in the third epoch: training stops, the best of two epochs is kept."""
    from seqzoo.training.models import SequenceCNN

    class Interrupted(SequenceCNN):
        calls = 0

        def forward(self, x):
            if self.training:
                Interrupted.calls += 1
                if Interrupted.calls > 2 * 5:  # 5 batches per epoch: interrupt the third epoch
                    raise KeyboardInterrupt
            return super().forward(x)

    codes, labels = _toy(n=320)
    seed_everything(0)
    model = Interrupted({"kernel_num": 8, "neuron_num": 16, "epochs": 10, "batch_size": 32}, 4, 2, 30, "binary")
    result = fit(model, codes[::2], labels[::2], codes[1::2], labels[1::2], get_alphabet("dna").table,
                 ["neg", "pos"], seed=0, device="cpu", quiet=True)
    assert result.interrupted and len(result.history) == 2 and result.best_epoch in (1, 2)
    assert not model.training


@pytest.mark.parametrize("task, classes", [("binary", 2), ("multilabel", 3)])
def test_ensemble_answers_with_its_members_mean_probability(task, classes):
    from seqzoo.training.models import Ensemble, SequenceCNN

    torch.manual_seed(0)
    assert isinstance(build_model({"ensemble": 1}, 4, classes, 30, task), SequenceCNN)
    model = build_model({"ensemble": 3, "kernel_num": 4}, 4, classes, 30, task).eval()
    assert isinstance(model, Ensemble) and len(model.members) == 3 and model.params["ensemble"] == 3
    assert model.first_conv is model.members[0].first_conv and not model.length_dynamic
    assert not torch.equal(model.members[0].first_conv.weight, model.members[1].first_conv.weight)
    x = torch.rand(5, 30, 4)
    with torch.no_grad():
        mean = torch.stack([m.probabilities(x) for m in model.members]).mean(dim=0)
        activate = torch.sigmoid if task == "multilabel" else (lambda z: torch.softmax(z, dim=1))
        assert torch.allclose(model.probabilities(x), mean, atol=1e-6)
        assert torch.allclose(activate(model(x)), mean, atol=1e-5)
    with pytest.raises(InputError, match="ensemble=0"):
        hyperparameters({"ensemble": 0})


def _train_ensemble(seed, members=None):
    codes, labels = _toy()
    seed_everything(seed)
    params = {"kernel_num": 8, "neuron_num": 16, "epochs": 6, "patience": 3, "batch_size": 32, "learning_rate": 0.005,
              "ensemble": 2}
    model = build_model(params, 4, 2, 30, "binary") if members is None else members(params)
    return fit(model, codes[::2], labels[::2], codes[1::2], labels[1::2], get_alphabet("dna").table,
               ["neg", "pos"], seed=seed, device="cpu", quiet=True)


def test_ensemble_trains_each_member_deterministically_and_round_trips(tmp_path):
    import json

    result, again = _train_ensemble(3), _train_ensemble(3)
    model = result.model
    assert sorted({h["member"] for h in result.history}) == [1, 2]
    assert len(result.best_epoch) == 2 and all(b >= 1 for b in result.best_epoch)
    for member in (1, 2):  # each member restored its own best validation-loss epoch
        rows = [h for h in result.history if h["member"] == member]
        assert rows[result.best_epoch[member - 1] - 1]["val_loss"] == min(h["val_loss"] for h in rows)
    for (name, a), b in zip(model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name
    codes, labels = _toy(seed=5)
    table = get_alphabet("dna").table
    probs = predict(model, codes, table)
    assert auroc(labels[:, 1], probs[:, 1]) > 0.9
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "config.json").write_text(json.dumps({"model": model.params, "alphabet": get_alphabet("dna").to_dict(),
                                                      "length": 30, "task": "binary", "classes": ["neg", "pos"],
                                                      "structure": None}))
    loaded, _ = load_run(tmp_path)
    assert np.allclose(predict(loaded, codes, table), probs, atol=1e-6)


@pytest.mark.parametrize("stop_after, kept", [(3, 1), (5 * 2 + 3, 2)])
def test_ctrl_c_in_an_ensemble_keeps_the_members_trained_so_far(stop_after, kept):
    """Ctrl-C in the second member's first epoch: the first member alone is the model; in its
    third epoch: both members, the second at its best of two epochs."""
    from seqzoo.training.models import Ensemble, SequenceCNN

    class Interrupted(SequenceCNN):
        calls = 0

        def forward(self, x):
            if self.training:
                self.calls += 1
                if self.calls > stop_after:  # 5 batches per epoch
                    raise KeyboardInterrupt
            return super().forward(x)

    def members(params):
        return Ensemble([SequenceCNN(params, 4, 2, 30, "binary"), Interrupted(params, 4, 2, 30, "binary")])

    result = _train_ensemble(0, members)
    second = [h for h in result.history if h["member"] == 2]
    assert result.interrupted and len(second) == (0 if kept == 1 else 2)
    if kept == 1:
        assert isinstance(result.model, SequenceCNN) and result.model.params["ensemble"] == 1
        assert isinstance(result.best_epoch, int) and result.best_epoch >= 1
    else:
        assert isinstance(result.model, Ensemble) and len(result.model.members) == 2
        assert result.model.params["ensemble"] == 2 and result.best_epoch[1] in (1, 2)
