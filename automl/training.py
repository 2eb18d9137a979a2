"""The MLP training loop: K models of one shape trained at once (K = 1 for a single model).

Device and dtype are decided once, in `train`. The K members' weights live in one flat parameter of
shape [K, P], split into per-layer views inside `forward`, so one backward yields one gradient
tensor and the optimizer step is a handful of in-place ops over [K, P], with a learning rate and a
weight decay per member. The training set stays on the device; each epoch gathers it once in a
shuffled order and slices contiguous batches from it (no per-sample collation, no per-batch
gather). The host syncs once per epoch, for early stopping and the epoch callbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
EMBEDDINGS = ("none", "periodic")
LOSSES = ("bce", "ce", "mse")

# callback(epoch, member, {"train_loss", "val_loss"}) -> True to stop that member (e.g. pruned).
# Raising stops the whole training.
EpochCallback = Callable[[int, int, dict[str, float]], bool | None]


def resolve_device(requested: str = "auto") -> torch.device:
    """auto → CUDA when present, else CPU; an explicit 'cuda' without CUDA is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{requested}' was asked for, but CUDA is not available on this machine "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
            "set device: auto or device: cpu, or install a CUDA build of torch"
        )
    if requested != "cpu" and not requested.startswith("cuda"):
        raise ValueError(f"device '{requested}' is not one of 'auto', 'cpu', 'cuda'")
    return torch.device(requested)


@dataclass(frozen=True)
class Shape:
    """What the packed members share: the architecture, the batches, the loss and the schedule."""

    n_in: int
    n_out: int
    hidden_layers: int = 2
    hidden_width: int = 128
    embedding: str = "none"  # "periodic": per-feature sin/cos of learned frequencies, then linear + ReLU
    n_frequencies: int = 8
    embedding_dim: int = 8
    loss: str = "ce"
    label_smoothing: float = 0.0
    optimizer: str = "adamw"
    schedule: str = "constant"
    batch_size: int = 128
    max_epochs: int = 100
    patience: int = 10
    validation_fraction: float = 0.15

    def check(self, owner: str = "Shape") -> None:
        for name, value, allowed in [("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("embedding", self.embedding, EMBEDDINGS), ("loss", self.loss, LOSSES)]:
            if value not in allowed:
                raise ValueError(f"The '{name}' parameter of {owner} must be one of {allowed}. Got {value!r} instead.")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.hidden_layers < 0 or min(self.hidden_width, self.batch_size, self.max_epochs, self.patience) < 1:
            raise ValueError("hidden_layers >= 0 and hidden_width, batch_size, max_epochs, patience >= 1 must hold, "
                             f"but got ({self.hidden_layers}, {self.hidden_width}, {self.batch_size}, "
                             f"{self.max_epochs}, {self.patience})")


@dataclass(frozen=True)
class Member:
    """What each packed member has of its own."""

    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    seed: int = 0  # initial weights; the data order and dropout masks come from the pack's seed


class StackedMLP(nn.Module):
    """K MLPs of one shape; every layer is one batched matmul over the member axis."""

    def __init__(self, shape: Shape, members: list[Member]):
        super().__init__()
        self.shape, self.k, self.members = shape, len(members), list(members)
        self.layout: list[tuple[str, tuple[int, ...]]] = []  # (name, per-member shape) in flat order
        width = shape.n_in
        if shape.embedding == "periodic":
            f, n, d = shape.n_in, shape.n_frequencies, shape.embedding_dim
            self.layout += [("frequencies", (f, n)), ("embed_w", (f, 2 * n, d)), ("embed_b", (1, f, d))]
            width = f * d
        for i in range(shape.hidden_layers):
            self.layout += [(f"w{i}", (width, shape.hidden_width)), (f"b{i}", (1, shape.hidden_width))]
            width = shape.hidden_width
        self.layout += [("w_out", (width, shape.n_out)), ("b_out", (1, shape.n_out))]
        self.sizes = [math.prod(s) for _, s in self.layout]
        self.flat = nn.Parameter(torch.cat([self._init_member(m.seed) for m in members]))
        # Dropout draws 7-bit uniforms (keep probability in steps of 1/128), 8 per random int64:
        # a quarter of the RNG work of float uniforms, which dominate a small MLP's step on a CPU.
        keep_of_128 = [max(1, round((1.0 - m.dropout) * 128)) for m in members]
        self.register_buffer("keep_threshold", torch.tensor(keep_of_128, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("keep_scale", torch.tensor([128.0 / t for t in keep_of_128]).view(-1, 1, 1))
        self.use_dropout = any(t < 128 for t in keep_of_128)

    def _init_member(self, seed: int) -> torch.Tensor:
        """nn.Linear's default init (uniform ±1/sqrt(fan_in)), drawn from the member's own seed."""
        generator = torch.Generator().manual_seed(seed)
        parts, fan_in = [], self.shape.n_in
        for name, s in self.layout:
            if name == "frequencies":  # periodic embeddings start from N(0, 0.1²) frequencies
                parts.append(torch.randn(s, generator=generator) * 0.1)
                continue
            if name.startswith("w") or name == "embed_w":
                fan_in = s[-2]
            bound = 1.0 / math.sqrt(fan_in)
            parts.append((torch.rand(s, generator=generator) * 2 - 1) * bound)
        return torch.cat([p.flatten() for p in parts]).unsqueeze(0)

    def member(self, index: int) -> StackedMLP:
        """Member `index` alone, as a K = 1 model with its own copy of the weights."""
        single = StackedMLP(self.shape, [self.members[index]]).to(self.flat.device)
        with torch.no_grad():
            single.flat.copy_(self.flat[index:index + 1])
        return single.eval()

    def weights(self) -> dict[str, torch.Tensor]:
        views = torch.split(self.flat, self.sizes, dim=1)
        return {name: v.view(self.k, *s) for (name, s), v in zip(self.layout, views)}

    def forward(self, x: torch.Tensor, dropout_generator: torch.Generator | None = None) -> torch.Tensor:
        """x: [B, n_in] shared by all members → logits [K, B, n_out]."""
        w = self.weights()
        batch = x.shape[0]
        if self.shape.embedding == "periodic":
            angles = 2 * math.pi * x[None, :, :, None] * w["frequencies"][:, None]  # [K, B, F, n]
            periodic = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # [K, B, F, 2n]
            h = torch.relu(torch.einsum("kbfi,kfid->kbfd", periodic, w["embed_w"]) + w["embed_b"])
            h = h.reshape(self.k, batch, -1)
        else:
            h = x.unsqueeze(0).expand(self.k, batch, x.shape[1])
        for i in range(self.shape.hidden_layers):
            h = torch.relu(torch.baddbmm(w[f"b{i}"], h, w[f"w{i}"]))
            if self.training and self.use_dropout:
                h = self._dropout(h, dropout_generator)
        return torch.baddbmm(w["b_out"], h, w["w_out"])


    def _dropout(self, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        words = torch.empty((h.numel() + 7) // 8, dtype=torch.int64, device=h.device).random_(generator=generator)
        uniform7 = (words.view(torch.uint8)[: h.numel()].view(h.shape) & 127).float()  # 63 random bits: 7 a byte
        # For integers u and t, clamp(t - u, 0, 1) is 1 where u < t, else 0: a float mask with no
        # bool tensors (whose ops cost several float multiplies each on a CPU).
        mask = (self.keep_threshold - uniform7).clamp_(0, 1).mul_(self.keep_scale)
        return h * mask


class StackedOptimizer:
    """Adam, AdamW or SGD (Nesterov momentum) over the flat [K, P] parameter, per-member lr and decay."""

    def __init__(self, param: nn.Parameter, kind: str, lr: torch.Tensor, weight_decay: torch.Tensor,
                 betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9):
        self.param, self.kind = param, kind
        self.base_lr = lr.view(-1, 1).to(param.device)
        self.lr = self.base_lr.clone()
        self.weight_decay = weight_decay.view(-1, 1).to(param.device)
        self.betas, self.eps, self.momentum, self.steps = betas, eps, momentum, 0
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param) if kind != "sgd" else None

    @torch.no_grad()
    def step(self) -> None:
        p, g = self.param, self.param.grad
        self.steps += 1
        if self.kind == "sgd":
            g = g.add(p * self.weight_decay)
            self.m.mul_(self.momentum).add_(g)
            p.sub_(self.lr * g.add(self.m, alpha=self.momentum))
            return
        b1, b2 = self.betas
        if self.kind == "adam":  # L2 penalty through the gradient
            g = g.add(p * self.weight_decay)
        else:  # adamw: decoupled decay
            p.mul_(1 - self.lr * self.weight_decay)
        self.m.lerp_(g, 1 - b1)
        self.v.mul_(b2).addcmul_(g, g, value=1 - b2)
        step_size = self.lr / (1 - b1 ** self.steps)
        denom = (self.v / (1 - b2 ** self.steps)).sqrt_().add_(self.eps)
        p.sub_(step_size * self.m / denom)

    def set_schedule(self, factor: float, active: torch.Tensor) -> None:
        """Scale every lr by the schedule; members no longer active get lr 0 (their weights freeze)."""
        self.lr = self.base_lr * factor * active.view(-1, 1)


def schedule_factor(kind: str, epoch: int, max_epochs: int) -> float:
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / max_epochs))
    return 1.0


def member_losses(logits: torch.Tensor, target: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Mean loss per member: [K]. target is [B] (class codes) or [B, 1] (floats)."""
    logits = logits.float()
    if shape.loss == "ce":
        k, b, c = logits.shape
        per_row = nn.functional.cross_entropy(logits.reshape(k * b, c), target.repeat(k),
                                              label_smoothing=shape.label_smoothing, reduction="none")
        return per_row.view(k, b).mean(dim=1)
    if shape.loss == "bce":
        soft = target * (1 - shape.label_smoothing) + 0.5 * shape.label_smoothing
        return nn.functional.binary_cross_entropy_with_logits(
            logits, soft.expand_as(logits), reduction="none").mean(dim=(1, 2))
    return ((logits - target) ** 2).mean(dim=(1, 2))


@dataclass
class TrainResult:
    model: StackedMLP  # holds each member's best weights (lowest validation loss)
    history: list[list[dict[str, float]]] = field(default_factory=list)  # per member, per epoch
    stopped: list[str] = field(default_factory=list)  # per member: "early_stopping", "callback", "max_epochs"


def train(X: torch.Tensor, y: torch.Tensor, shape: Shape, members: list[Member], device: torch.device,
          seed: int = 0, callbacks: list[EpochCallback] | None = None) -> TrainResult:
    """Train K members on (X, y) (tensors already on `device`) with early stopping per member."""
    shape.check()
    assert X.ndim == 2 and X.shape[0] == y.shape[0], f"X {tuple(X.shape)} and y {tuple(y.shape)} must share rows"
    k = len(members)
    generator = torch.Generator(device=device).manual_seed(seed)
    order = torch.randperm(len(X), generator=generator, device=device)
    n_val = int(len(X) * shape.validation_fraction) if len(X) >= 20 else 0
    X_val, y_val = X[order[:n_val]], y[order[:n_val]]
    X_train, y_train = X[order[n_val:]], y[order[n_val:]]
    n_train = len(X_train)

    model = StackedMLP(shape, members).to(device)
    optimizer = StackedOptimizer(model.flat, shape.optimizer,
                                 torch.tensor([m.learning_rate for m in members]),
                                 torch.tensor([m.weight_decay for m in members]))
    # bf16 autocast on CUDA (no loss scaling needed); plain fp32 on the CPU.
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    best_flat = model.flat.detach().clone()
    best_loss = torch.full((k,), float("inf"), device=device)
    stale = [0] * k
    active = torch.ones(k, dtype=torch.bool, device=device)
    result = TrainResult(model, [[] for _ in range(k)], ["max_epochs"] * k)
    for epoch in range(shape.max_epochs):
        optimizer.set_schedule(schedule_factor(shape.schedule, epoch, shape.max_epochs), active)
        model.train()
        perm = torch.randperm(n_train, generator=generator, device=device)
        X_epoch, y_epoch = X_train[perm], y_train[perm]  # one gather per epoch; batches are slices
        loss_sum = torch.zeros(k, device=device)
        for start in range(0, n_train, shape.batch_size):
            xb, yb = X_epoch[start:start + shape.batch_size], y_epoch[start:start + shape.batch_size]
            with autocast:
                losses = member_losses(model(xb, generator), yb, shape)
            model.flat.grad = None
            losses.sum().backward()  # members share no weights: each gets its own gradient
            optimizer.step()
            loss_sum += losses.detach() * len(xb)

        model.eval()
        with torch.no_grad(), autocast:
            val = member_losses(model(X_val), y_val, shape) if n_val else loss_sum / n_train
        improved = (val < best_loss - 1e-6) & active
        best_loss = torch.where(improved, val, best_loss)
        best_flat = torch.where(improved[:, None], model.flat.detach(), best_flat)
        train_loss, val_loss, better = (loss_sum / n_train).tolist(), val.tolist(), improved.tolist()  # the sync
        still = active.tolist()
        for m in range(k):
            if not still[m]:
                continue
            record = {"train_loss": train_loss[m], "val_loss": val_loss[m]}
            result.history[m].append(record)
            stale[m] = 0 if better[m] else stale[m] + 1
            stop = any([bool(callback(epoch, m, record)) for callback in callbacks or []])
            if stop or stale[m] >= shape.patience:
                result.stopped[m] = "callback" if stop else "early_stopping"
                active[m] = False
        if not active.any():
            break
    with torch.no_grad():
        model.flat.copy_(best_flat)
    model.eval()
    return result


@torch.no_grad()
def predict_logits(model: StackedMLP, X: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Logits of every member: [K, N, n_out], in float32, computed in chunks."""
    model.eval()
    outputs = [model(X[start:start + chunk]).float() for start in range(0, len(X), chunk)]
    return torch.cat(outputs, dim=1) if outputs else torch.zeros((model.k, 0, model.shape.n_out))
