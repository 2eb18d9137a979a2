"""The training loop itself: optimizers, packing, callbacks (early stopping among them), embeddings."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from automl.nn import (
    Callback,
    EarlyStopping,
    Member,
    Shape,
    StackedMLP,
    StackedOptimizer,
    TrainState,
    member_losses,
    predict_logits,
    train,
)
from automl.nn._loop import Trainer
from automl.nn._model import ple

CPU = torch.device("cpu")


@pytest.mark.parametrize("kind, reference, extra", [
    ("adamw", torch.optim.AdamW, {}),
    ("adam", torch.optim.Adam, {}),
    ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
])
def test_stacked_optimizer_matches_torch(kind, reference, extra):
    torch.manual_seed(0)
    start = torch.randn(2, 30)
    ours = torch.nn.Parameter(start.clone())
    theirs = [torch.nn.Parameter(start[i].clone()) for i in range(2)]
    lrs, decays = [0.01, 0.003], [0.1, 0.0]
    optimizer = StackedOptimizer(ours, kind, torch.tensor(lrs), torch.tensor(decays))
    references = [reference([p], lr=lr, weight_decay=wd, **extra) for p, lr, wd in zip(theirs, lrs, decays)]
    for _ in range(25):
        grad = torch.randn(2, 30)
        ours.grad = grad.clone()
        optimizer.step()
        for i, (p, ref) in enumerate(zip(theirs, references)):
            p.grad = grad[i].clone()
            ref.step()
    for i in range(2):
        torch.testing.assert_close(ours.detach()[i], theirs[i].detach(), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(400, 8, n_informative=5, random_state=0)
    return torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.float32)).unsqueeze(1)


SHAPE = dict(n_in=8, n_out=1, hidden_layers=2, hidden_width=32, loss="bce", batch_size=64, max_epochs=15)


@pytest.mark.parametrize("embedding", ["none", "ple"])
def test_each_packed_member_matches_training_it_alone(data, embedding):
    X, y = data
    members = [Member(learning_rate=lr, weight_decay=wd, dropout=0.0, seed=s)
               for lr, wd, s in [(1e-3, 1e-4, 0), (3e-3, 0.0, 1), (1e-2, 1e-2, 2), (3e-4, 1e-3, 3)]]
    shape = Shape(**SHAPE, embedding=embedding, n_bins=8)
    packed = train(X, y, shape, members, CPU, seed=7)
    packed_logits = predict_logits(packed.model, X)
    for i, member in enumerate(members):
        alone = train(X, y, shape, [member], CPU, seed=7)
        torch.testing.assert_close(predict_logits(alone.model, X)[0], packed_logits[i], rtol=1e-4, atol=1e-4)
        assert [h["val_loss"] for h in alone.history[0]] == pytest.approx(
            [h["val_loss"] for h in packed.history[i]], rel=1e-4)


class StopMember(Callback):
    """Stops one member at one epoch; records what it saw."""

    def __init__(self, member, epoch):
        self.member, self.epoch, self.seen = member, epoch, []

    def on_epoch_end(self, state: TrainState) -> None:
        self.seen.append((state.epoch, state.training()))
        if state.epoch == self.epoch:
            state.stop(self.member, "told to")


def test_members_stop_on_their_own(data):
    X, y = data
    members = [Member(learning_rate=1e-2, seed=0), Member(learning_rate=1e-3, seed=1)]
    stopper = StopMember(0, 2)
    result = train(X, y, Shape(**SHAPE), members, CPU, callbacks=[stopper])
    assert len(result.history[0]) == 3 and result.stopped[0] == "told to"
    assert len(result.history[1]) == 15 and result.stopped[1] == "max_epochs"
    assert stopper.seen[:4] == [(0, [0, 1]), (1, [0, 1]), (2, [0, 1]), (3, [1])]


def test_a_callback_that_raises_stops_the_whole_training(data):
    class Boom(Callback):
        def on_epoch_end(self, state):
            if state.epoch == 1:
                raise KeyError("enough")

    with pytest.raises(KeyError, match="enough"):
        train(*data, Shape(**SHAPE), [Member(seed=0), Member(seed=1)], CPU, callbacks=[Boom()])


def test_early_stopping_keeps_the_best_weights(data):
    X, y = data
    shape = Shape(**{**SHAPE, "max_epochs": 200})
    result = train(X, y, shape, [Member(learning_rate=3e-2, seed=0)], CPU, callbacks=[EarlyStopping(patience=3)])
    history = [h["val_loss"] for h in result.history[0]]
    assert result.stopped == ["early_stopping"] and len(history) < 200
    best = min(history)
    assert history.index(best) == len(history) - 1 - 3  # stopped `patience` epochs after the best
    # the returned weights are the best epoch's: recomputing the validation loss gives the best value
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
    n_val = int(len(X) * shape.validation_fraction)
    val = member_losses(predict_logits(result.model, X[order[:n_val]]), y[order[:n_val]], shape)
    assert val.item() == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("embedding, schedule", [("periodic", "cosine"), ("none", "cosine"), ("periodic", "constant"),
                                                 ("ple", "cosine"), ("ple", "flat_cosine")])
def test_recipe_options_train(data, embedding, schedule):
    X, y = data
    shape = Shape(**{**SHAPE, "embedding": embedding, "schedule": schedule, "max_epochs": 30, "label_smoothing": 0.1})
    result = train(X, y, shape, [Member(learning_rate=3e-3, seed=0)], CPU)
    losses = [h["train_loss"] for h in result.history[0]]
    assert losses[-1] < 0.7 * losses[0]
    accuracy = ((predict_logits(result.model, X)[0] > 0).float() == y).float().mean()
    assert accuracy > 0.85


def test_shape_errors_name_the_parameter():
    with pytest.raises(ValueError,
                       match=r"The 'embedding' parameter of Shape must be one of \('none', 'periodic', 'ple'\)"):
        Shape(n_in=2, n_out=1, embedding="plain").check()
    with pytest.raises(ValueError, match=r"patience >= 1 must hold, but got patience=0"):
        EarlyStopping(patience=0)


def test_dropout_keeps_each_members_share_and_the_mean():
    model = StackedMLP(Shape(n_in=4, n_out=1, hidden_width=64), [Member(dropout=0.3), Member(dropout=0.0),
                                                                  Member(dropout=0.5)])
    out = model._dropout(torch.ones(3, 20000, 64), torch.Generator().manual_seed(0))
    kept = (out != 0).float().mean(dim=(1, 2))
    torch.testing.assert_close(kept, torch.tensor([90 / 128, 1.0, 0.5]), atol=3e-3, rtol=0)  # 1/128 steps
    torch.testing.assert_close(out.mean(dim=(1, 2)), torch.ones(3), atol=5e-3, rtol=0)  # unbiased


@pytest.mark.gpu
def test_packed_members_match_alone_on_cuda(data):
    X, y = (t.cuda() for t in data)
    members = [Member(learning_rate=lr, dropout=0.0, seed=s) for lr, s in [(1e-3, 0), (3e-3, 1), (1e-2, 2)]]
    shape = Shape(**SHAPE)
    packed = predict_logits(train(X, y, shape, members, torch.device("cuda"), seed=7).model, X)
    for i, member in enumerate(members):
        alone = predict_logits(train(X, y, shape, [member], torch.device("cuda"), seed=7).model, X)[0]
        torch.testing.assert_close(alone, packed[i], rtol=2e-2, atol=2e-2)  # bf16 autocast on CUDA


def test_piecewise_linear_encoding_of_known_values():
    edges = torch.tensor([[0.0, 1.0, 3.0, 4.0]])  # one feature, 3 bins
    x = torch.tensor([[-1.0], [0.5], [2.0], [3.0], [5.0]])
    expected = torch.tensor([[-1.0, 0.0, 0.0],  # below the first bin: it extends below 0
                             [0.5, 0.0, 0.0], [1.0, 0.5, 0.0], [1.0, 1.0, 0.0],
                             [1.0, 1.0, 2.0]])  # above the last: it extends above 1
    torch.testing.assert_close(ple(x, edges)[:, 0, :], expected)


def test_ple_bins_come_from_the_training_rows_only(data):
    """The edges are quantiles of the rows the members train on: the early-stopping rows (and any
    row the caller holds out) never shape them; a member alone keeps the pack's edges."""
    X, y = data
    shape = Shape(**{**SHAPE, "embedding": "ple", "n_bins": 8, "max_epochs": 3})
    trainer = Trainer(shape, [Member(seed=0), Member(seed=1)], CPU, seed=0)
    (X_train, _), _ = Trainer(shape, [Member()], CPU, seed=0).split_validation(X, y)  # the same seeded split
    result = trainer.fit(X, y)
    expected = torch.quantile(X_train, torch.linspace(0, 1, 9), dim=0).T
    torch.testing.assert_close(result.model.edges, expected)
    assert not torch.allclose(expected, torch.quantile(X, torch.linspace(0, 1, 9), dim=0).T)  # X_val left out
    torch.testing.assert_close(result.model.member(1).edges, expected)


def test_flat_cosine_holds_then_decays():
    from automl.nn import schedule_factor
    factors = [schedule_factor("flat_cosine", epoch, 10) for epoch in range(10)]
    assert factors[:5] == [1.0] * 5 and factors[5] == pytest.approx(1.0)
    assert (factors[7] == pytest.approx(0.5 * (1 + np.cos(np.pi * 2 / 5)))
            and all(a > b for a, b in zip(factors[5:], factors[6:])))
