"""K MLPs of one shape as one module: the weights of all members in one flat [K, P] parameter.

The flat parameter is split into per-layer views inside `forward`, so one backward yields one
gradient tensor and the optimizer step is a handful of in-place ops over [K, P] (automl.nn._optim).
Members share the shape (Shape) and differ in what Member holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
EMBEDDINGS = ("none", "periodic", "ple")
LOSSES = ("bce", "ce", "mse")


@dataclass(frozen=True)
class Shape:
    """What the packed members share: the architecture, the batches, the loss and the schedule."""

    n_in: int
    n_out: int
    hidden_layers: int = 2
    hidden_width: int = 128
    embedding: str = "none"  # "periodic": per-feature sin/cos of learned frequencies, then linear + ReLU;
    # "ple": piecewise-linear encoding over quantile bins of the training rows, then linear + ReLU
    n_frequencies: int = 8
    n_bins: int = 16
    embedding_dim: int = 8
    loss: str = "ce"
    label_smoothing: float = 0.0
    optimizer: str = "adamw"
    schedule: str = "constant"
    batch_size: int = 128
    max_epochs: int = 100
    validation_fraction: float = 0.15

    def check(self, owner: str = "Shape") -> None:
        for name, value, allowed in [("optimizer", self.optimizer, OPTIMIZERS), ("schedule", self.schedule, SCHEDULES),
                                     ("embedding", self.embedding, EMBEDDINGS), ("loss", self.loss, LOSSES)]:
            if value not in allowed:
                raise ValueError(f"The '{name}' parameter of {owner} must be one of {allowed}. Got {value!r} instead.")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.hidden_layers < 0 or min(self.hidden_width, self.batch_size, self.max_epochs) < 1:
            raise ValueError("hidden_layers >= 0 and hidden_width, batch_size, max_epochs >= 1 must hold, "
                             f"but got ({self.hidden_layers}, {self.hidden_width}, {self.batch_size}, "
                             f"{self.max_epochs})")


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
        if shape.embedding == "ple":  # the bins' edges are data, not weights: set_bins, before training
            f, t, d = shape.n_in, shape.n_bins, shape.embedding_dim
            self.layout += [("embed_w", (f, t, d)), ("embed_b", (1, f, d))]
            self.register_buffer("edges", torch.linspace(0, 1, t + 1).repeat(f, 1))
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
            if self.shape.embedding == "ple":
                single.edges.copy_(self.edges)
        return single.eval()

    def set_bins(self, X: torch.Tensor) -> None:
        """The PLE bins' edges: per feature, the quantiles of the rows given (the training rows only)."""
        levels = torch.linspace(0, 1, self.shape.n_bins + 1, device=X.device)
        step = -(-X.numel() // 2**24)  # torch.quantile takes at most 2**24 values: every step-th row
        with torch.no_grad():
            self.edges.copy_(torch.quantile(X[::step].float(), levels, dim=0).T)

    def weights(self) -> dict[str, torch.Tensor]:
        views = torch.split(self.flat, self.sizes, dim=1)
        return {name: v.view(self.k, *s) for (name, s), v in zip(self.layout, views)}

    def forward(self, x: torch.Tensor, dropout_generator: torch.Generator | None = None) -> torch.Tensor:
        """x: [B, n_in] shared by all members → logits [K, B, n_out]."""
        w = self.weights()
        batch = x.shape[0]
        if self.shape.embedding == "ple":
            h = torch.relu(torch.einsum("bft,kftd->kbfd", ple(x, self.edges), w["embed_w"]) + w["embed_b"])
            h = h.reshape(self.k, batch, -1)
        elif self.shape.embedding == "periodic":
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


def ple(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear encoding (Gorishniy et al. 2022): x [B, F] over bins with edges [F, T + 1] →
    [B, F, T]; bin t is 0 below it, 1 above it, linear inside; the first and last bins extend
    beyond the training range (below 0, above 1). A bin of zero width is a step."""
    left, width = edges[:, :-1], (edges[:, 1:] - edges[:, :-1]).clamp_min(1e-12)
    t = (x[:, :, None] - left[None]) / width[None]
    n = edges.shape[1] - 1
    lower = torch.zeros(n, device=x.device, dtype=t.dtype)
    upper = torch.ones(n, device=x.device, dtype=t.dtype)
    lower[0], upper[-1] = -torch.inf, torch.inf
    return torch.maximum(torch.minimum(t, upper), lower)
