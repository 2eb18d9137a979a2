"""The training loop: the K members of a pack, models of one shape, trained at once (K = 1 alone).

It reads top to bottom, as skorch's does: `fit` (the loop over epochs) → `run_epoch` →
`train_step`. The device is the caller's; the dtype is decided here (bf16 autocast on CUDA). The
training set stays on the device; each epoch gathers it once in a shuffled order and slices
contiguous batches from it (no per-sample collation, no per-batch gather). The host syncs once per
epoch, to hand the epoch's losses to the callbacks (automl.nn._callbacks), which decide who stops.
Each member keeps the weights of its best validation epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from automl.nn._callbacks import Callback, TrainState
from automl.nn._model import StackedMLP
from automl.nn._optim import StackedOptimizer, schedule_factor
from automl.nn._shape import Member, Shape
from automl.nn._tabm import make_model


def member_losses(logits: torch.Tensor, target: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Mean loss per pack member: [K]. target is [B] (class codes) or [B, 1] (floats). Logits [K, E, B, n_out]
    (a TabM's E submodels) give each TabM the mean of its submodels' losses."""
    logits = logits.float()
    if shape.loss.startswith("kd_"):
        return distill_losses(logits, target, shape)
    if logits.ndim == 4:
        pack, e, b, c = logits.shape
        logits, target = logits.reshape(pack, e * b, c), target.repeat(e, *([1] * (target.ndim - 1)))
    if shape.loss == "ce":
        pack, b, c = logits.shape
        per_row = nn.functional.cross_entropy(logits.reshape(pack * b, c), target.repeat(pack),
                                              label_smoothing=shape.label_smoothing, reduction="none")
        return per_row.view(pack, b).mean(dim=1)
    if shape.loss == "bce":
        soft = target * (1 - shape.label_smoothing) + 0.5 * shape.label_smoothing
        return nn.functional.binary_cross_entropy_with_logits(
            logits, soft.expand_as(logits), reduction="none").mean(dim=(1, 2))
    return ((logits - target) ** 2).mean(dim=(1, 2))


def distill_losses(logits: torch.Tensor, target: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Knowledge distillation's loss per pack member, [K] (Hinton et al. 2015): alpha · T² · the
    cross-entropy of the softened outputs (softmax(z / T)) against the teacher's softened
    probabilities (the KL divergence but for the teacher's entropy, a constant: the same gradient),
    plus (1 - alpha) · each row's label weight · the cross-entropy on the true label. target is
    [B, n_out + 2] (distill_target): the soft targets, the class code, the label weight.
    Logits [K, B, n_out]; a TabM's [K, E, B, n_out] count each submodel's loss."""
    if logits.ndim == 4:
        pack, e, b, c = logits.shape
        logits, target = logits.reshape(pack, e * b, c), target.repeat(e, 1)
    n_out, t, alpha = logits.shape[-1], shape.temperature, shape.alpha
    soft, code, weight = target[:, :n_out], target[:, n_out], target[:, n_out + 1]
    if shape.loss == "kd_bce":  # one logit: the positive class
        z = logits[..., 0]
        soft_term = nn.functional.binary_cross_entropy_with_logits(z / t, soft[:, 0].expand_as(z), reduction="none")
        label_term = nn.functional.binary_cross_entropy_with_logits(z, code.expand_as(z), reduction="none")
    else:
        pack, b, c = logits.shape
        soft_term = -(soft * torch.log_softmax(logits / t, dim=-1)).sum(dim=-1)
        label_term = nn.functional.cross_entropy(logits.reshape(pack * b, c), code.long().repeat(pack),
                                                 reduction="none").view(pack, b)
    return (alpha * t * t * soft_term + (1 - alpha) * weight * label_term).mean(dim=1)


def distill_target(probabilities: torch.Tensor, codes: torch.Tensor, weights: torch.Tensor,
                   temperature: float) -> torch.Tensor:
    """The target matrix the kd_* losses read, [N, C + 2] ([N, 3] for two classes, whose one logit
    is the second class's): the teacher's probabilities [N, C] softened with the temperature
    (p^(1/T), renormalised: softmax(log p / T)), the true class codes [N] and each row's label
    weight [N] (0 for a row with no true label, such as an augmented one)."""
    soft = torch.softmax(torch.log(probabilities.double().clamp_min(1e-12)) / temperature, dim=1).float()
    if soft.shape[1] == 2:
        soft = soft[:, 1:]
    return torch.cat([soft, codes.float().reshape(-1, 1), weights.float().reshape(-1, 1)], dim=1)


@dataclass
class TrainResult:
    model: StackedMLP  # holds each member's best weights (lowest validation loss)
    history: list[list[dict[str, float]]]  # per member, per epoch
    stopped: list[str]  # per member: "max_epochs", or the reason a callback gave ("early_stopping", ...)


class Trainer:
    """Trains K members of one shape on one device; callbacks decide when members stop."""

    def __init__(self, shape: Shape, members: list[Member], device: torch.device, seed: int = 0,
                 callbacks: list[Callback] | None = None):
        shape.check()
        self.shape, self.members, self.device = shape, list(members), device
        self.callbacks = list(callbacks or [])
        self.generator = torch.Generator(device=device).manual_seed(seed)  # data order and dropout masks
        # bf16 autocast on CUDA (no loss scaling needed); plain fp32 on the CPU.
        self.autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def fit(self, X: torch.Tensor, y: torch.Tensor) -> TrainResult:
        """X [N, n_in] and y [N] or [N, 1], already on the device."""
        assert X.ndim == 2 and X.shape[0] == y.shape[0], f"X {tuple(X.shape)} and y {tuple(y.shape)} must share rows"
        (X_train, y_train), (X_val, y_val) = self.split_validation(X, y)
        pack_size = len(self.members)
        self.model = make_model(self.shape, self.members).to(self.device)
        # PLE: from the training rows, not the early-stopping rows nor the caller's held-out ones
        self.model.set_bins(X_train)
        self.optimizer = StackedOptimizer(self.model.flat, self.shape.optimizer,
                                          torch.tensor([m.learning_rate for m in self.members]),
                                          torch.tensor([m.weight_decay for m in self.members]),
                                          decay_mask=self.model.decay_mask())
        state = TrainState(pack_size)
        best_flat = self.model.flat.detach().clone()
        best_loss = torch.full((pack_size,), float("inf"), device=self.device)
        for callback in self.callbacks:
            callback.on_train_begin(state)
        for epoch in range(self.shape.max_epochs):
            active = torch.tensor(state.active, device=self.device)
            self.optimizer.set_schedule(schedule_factor(self.shape.schedule, epoch, self.shape.max_epochs), active)
            train_loss = self.run_epoch(X_train, y_train)
            val_loss = self.validate(X_val, y_val) if len(X_val) else train_loss
            improved = (val_loss < best_loss - 1e-6) & active
            best_loss = torch.where(improved, val_loss, best_loss)
            best_flat = torch.where(improved[:, None], self.model.flat.detach(), best_flat)
            state.end_epoch(epoch, train_loss.tolist(), val_loss.tolist(), improved.tolist())  # the one sync
            for callback in self.callbacks:
                callback.on_epoch_end(state)
            if not any(state.active):
                break
        with torch.no_grad():
            self.model.flat.copy_(best_flat)
        if self.shape.prune_submodels and len(X_val):
            with self.autocast:
                self.model.select_submodels(X_val, y_val, lambda logits, y: member_losses(logits, y, self.shape))
        self.model.eval()
        return TrainResult(self.model, state.history, state.stopped)

    def split_validation(self, X: torch.Tensor, y: torch.Tensor):
        """A seeded validation split for early stopping (none below 20 rows: the train loss stands in)."""
        order = torch.randperm(len(X), generator=self.generator, device=self.device)
        n_val = int(len(X) * self.shape.validation_fraction) if len(X) >= 20 else 0
        return (X[order[n_val:]], y[order[n_val:]]), (X[order[:n_val]], y[order[:n_val]])

    def run_epoch(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One pass over the shuffled training rows; returns each member's mean training loss [K]."""
        self.model.train()
        perm = torch.randperm(len(X), generator=self.generator, device=self.device)
        X_epoch, y_epoch = X[perm], y[perm]  # one gather per epoch; batches are slices
        loss_sum = torch.zeros(len(self.members), device=self.device)
        for start in range(0, len(X), self.shape.batch_size):
            xb, yb = X_epoch[start:start + self.shape.batch_size], y_epoch[start:start + self.shape.batch_size]
            loss_sum += self.train_step(xb, yb) * len(xb)
        return loss_sum / len(X)

    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        with self.autocast:
            losses = member_losses(self.model(xb, self.generator), yb, self.shape)
        self.model.flat.grad = None
        losses.sum().backward()  # members share no weights: each gets its own gradient
        self.optimizer.step()
        return losses.detach()

    @torch.no_grad()
    def validate(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        with self.autocast:
            return member_losses(predict_logits(self.model, X), y, self.shape)  # a TabM: its submodels' mean prediction


def train(X: torch.Tensor, y: torch.Tensor, shape: Shape, members: list[Member], device: torch.device,
          seed: int = 0, callbacks: list[Callback] | None = None) -> TrainResult:
    """Train K members on (X, y) (tensors already on `device`); callbacks decide who stops when."""
    return Trainer(shape, members, device, seed, callbacks).fit(X, y)


@torch.no_grad()
def predict_logits(model: StackedMLP, X: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Logits of every member: [K, N, n_out], in float32, computed in chunks."""
    model.eval()
    chunk = max(1024, chunk // model.shape.n_submodels)  # a TabM's activations are E times wider
    outputs = [model.logits(X[start:start + chunk]).float() for start in range(0, len(X), chunk)]
    return torch.cat(outputs, dim=1) if outputs else torch.zeros((model.pack_size, 0, model.shape.n_out))
