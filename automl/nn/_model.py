"""The models of one pack as one module: the weights of its K members in one flat [K, P] parameter
(K, the pack size, is 1 for a model trained alone).

The flat parameter is split into per-layer views inside `forward`, so one backward yields one
gradient tensor and the optimizer step is a handful of in-place ops over [K, P] (automl.nn._optim).
Members share the shape (Shape) and differ in what Member holds.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from automl.nn._shape import Member, Shape


class StackedMLP(nn.Module):
    """K MLPs of one shape; every layer is one batched matmul over the member axis."""

    def __init__(self, shape: Shape, members: list[Member]):
        super().__init__()
        self.shape, self.pack_size, self.members = shape, len(members), list(members)
        self.layout: list[tuple[str, tuple[int, ...]]] = []  # (name, per-member shape) in flat order
        self._layout_body(self._layout_inputs())
        self.sizes = [math.prod(s) for _, s in self.layout]
        self.flat = nn.Parameter(torch.cat([self._init_member(m.seed) for m in members]))
        # Dropout draws 7-bit uniforms (keep probability in steps of 1/128), 8 per random int64:
        # a quarter of the RNG work of float uniforms, which dominate a small MLP's step on a CPU.
        keep_of_128 = [max(1, round((1.0 - m.dropout) * 128)) for m in members]
        self.register_buffer("keep_threshold", torch.tensor(keep_of_128, dtype=torch.float32).view(-1, 1, 1))
        self.register_buffer("keep_scale", torch.tensor([128.0 / t for t in keep_of_128]).view(-1, 1, 1))
        self.use_dropout = any(t < 128 for t in keep_of_128)

    def __setstate__(self, state: dict) -> None:
        # Pickled before issue 24's renames: the pack size was `k`, a TabM's mean weights `member_weights`.
        if "k" in state:
            state["pack_size"] = state.pop("k")
        buffers = state.get("_buffers", {})
        if "member_weights" in buffers:
            buffers["submodel_weights"] = buffers.pop("member_weights")
        super().__setstate__(state)

    def _layout_inputs(self) -> int:
        """The input embeddings' weights; returns the width they hand the body."""
        shape, f, d = self.shape, self.shape.n_numeric, self.shape.embedding_dim
        width = f
        if f and shape.embedding == "periodic":
            n = shape.n_frequencies
            self.layout += [("frequencies", (f, n)), ("embed_w", (f, 2 * n, d)), ("embed_b", (1, f, d))]
            width = f * d
        if f and shape.embedding == "ple":  # the bins' edges are data, not weights: set_bins, before training
            self.layout += [("embed_w", (f, shape.n_bins, d)), ("embed_b", (1, f, d))]
            self.register_buffer("edges", torch.linspace(0, 1, shape.n_bins + 1).repeat(f, 1))
            width = f * d
        if shape.categories:  # one table for every column's codes; a column's rows start at its offset
            self.layout += [("cat_embed", (sum(shape.categories), d))]
            offsets = torch.tensor([0, *shape.categories[:-1]]).cumsum(0)
            self.register_buffer("cat_offsets", offsets, persistent=False)
            width += len(shape.categories) * d
        return width

    def _layout_body(self, width: int) -> None:
        for i in range(self.shape.hidden_layers):
            self.layout += [(f"w{i}", (width, self.shape.hidden_width)), (f"b{i}", (1, self.shape.hidden_width))]
            width = self.shape.hidden_width
        self.layout += [("w_out", (width, self.shape.n_out)), ("b_out", (1, self.shape.n_out))]

    def _init_member(self, seed: int) -> torch.Tensor:
        """nn.Linear's default init (uniform ±1/sqrt(fan_in)), drawn from the member's own seed."""
        generator = torch.Generator().manual_seed(seed)
        parts, fan_in = [], self.shape.n_in
        for name, s in self.layout:
            if name.startswith("w") or name in ("embed_w", "cat_embed"):
                fan_in = s[-1] if name == "cat_embed" else s[-2]
            parts.append(self._init_part(name, s, generator, fan_in))
        return torch.cat([p.flatten() for p in parts]).unsqueeze(0)

    def _init_part(self, name: str, s: tuple[int, ...], generator: torch.Generator, fan_in: int) -> torch.Tensor:
        if name == "frequencies":  # periodic embeddings start from N(0, 0.1²) frequencies
            return torch.randn(s, generator=generator) * 0.1
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(s, generator=generator) * 2 - 1) * bound

    def decay_mask(self) -> torch.Tensor:
        """[1, P]: 1 where weight decay applies. The plain MLP decays every weight."""
        return torch.ones(1, sum(self.sizes))

    def member(self, index: int) -> StackedMLP:
        """Member `index` alone, as a K = 1 model with its own copy of the weights."""
        single = type(self)(self.shape, [self.members[index]]).to(self.flat.device)
        with torch.no_grad():
            single.flat.copy_(self.flat[index:index + 1])
            for name, buffer in self.named_buffers():
                if name in self.SHARED_BUFFERS:
                    single.get_buffer(name).copy_(buffer)
                elif name in self.MEMBER_BUFFERS:
                    single.get_buffer(name).copy_(buffer[index:index + 1])
        return single.eval()

    SHARED_BUFFERS = ("edges",)  # data, the same for every member
    MEMBER_BUFFERS: tuple[str, ...] = ()  # learned per member after training (subclasses)

    def set_bins(self, X: torch.Tensor) -> None:
        """The PLE bins' edges: per feature, the quantiles of the rows given (the training rows only)."""
        if not (self.shape.n_numeric and self.shape.embedding == "ple"):
            return
        X = X[:, :self.shape.n_numeric]
        levels = torch.linspace(0, 1, self.shape.n_bins + 1, device=X.device)
        step = max(1, -(-X.numel() // 2**24))  # torch.quantile takes at most 2**24 values: every step-th row
        with torch.no_grad():
            self.edges.copy_(torch.quantile(X[::step].float(), levels, dim=0).T)

    def weights(self) -> dict[str, torch.Tensor]:
        views = torch.split(self.flat, self.sizes, dim=1)
        return {name: v.view(self.pack_size, *s) for (name, s), v in zip(self.layout, views)}

    def embed(self, x: torch.Tensor, w: dict[str, torch.Tensor]) -> torch.Tensor:
        """x: [B, n_in] → what the body takes: [K, B, width] (the numeric embeddings, then the categorical)."""
        batch, f = x.shape[0], self.shape.n_numeric
        numeric = x[:, :f]
        if f and self.shape.embedding == "ple":
            h = torch.relu(torch.einsum("bft,kftd->kbfd", ple(numeric, self.edges), w["embed_w"]) + w["embed_b"])
            parts = [h.reshape(self.pack_size, batch, -1)]
        elif f and self.shape.embedding == "periodic":
            angles = 2 * math.pi * numeric[None, :, :, None] * w["frequencies"][:, None]  # [K, B, F, n]
            periodic = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)  # [K, B, F, 2n]
            h = torch.relu(torch.einsum("kbfi,kfid->kbfd", periodic, w["embed_w"]) + w["embed_b"])
            parts = [h.reshape(self.pack_size, batch, -1)]
        else:
            parts = [numeric.unsqueeze(0).expand(self.pack_size, batch, f)]
        if self.shape.categories:
            codes = (x[:, f:].long() + self.cat_offsets).flatten()
            parts.append(w["cat_embed"][:, codes].reshape(self.pack_size, batch, -1))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def forward(self, x: torch.Tensor, dropout_generator: torch.Generator | None = None) -> torch.Tensor:
        """x: [B, n_in] shared by all members → logits [K, B, n_out]."""
        w = self.weights()
        h = self.embed(x, w)
        for i in range(self.shape.hidden_layers):
            h = torch.relu(torch.baddbmm(w[f"b{i}"], h, w[f"w{i}"]))
            if self.training and self.use_dropout:
                h = self._dropout(h, dropout_generator)
        return torch.baddbmm(w["b_out"], h, w["w_out"])

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """What the model predicts, as logits [K, B, n_out] (a TabM combines its submodels here)."""
        return self(x)

    def _dropout(self, h: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """h: [K, rows, width]."""
        words = torch.empty((h.numel() + 7) // 8, dtype=torch.int64, device=h.device).random_(generator=generator)
        uniform7 = (words.view(torch.uint8)[: h.numel()].view(h.shape) & 127).float()  # 63 random bits: 7 a byte
        # For integers u and t, clamp(t - u, 0, 1) is 1 where u < t, else 0: a float mask with no
        # bool tensors (whose ops cost several float multiplies each on a CPU).
        mask = (self.keep_threshold - uniform7).clamp_(0, 1).mul_(self.keep_scale)
        return h * mask


PLE_EXTEND = 1.0  # how far the end bins go on beyond the training range, in their own widths


def ple(x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear encoding (Gorishniy et al. 2022): x [B, F] over bins with edges [F, T + 1] →
    [B, F, T]; bin t is 0 below it, 1 above it, linear inside; the first and last bins extend
    beyond the training range, by at most PLE_EXTEND of their width (to -1 and 2). A bin of zero
    width is a step. Unbounded, a column that was constant in the training rows (all edges equal)
    read a larger value at prediction as (x - edge) / 1e-12: the predictions of a TabM on ames
    reached 1e8 times the target's spread (CV R² -4e16)."""
    left, width = edges[:, :-1], (edges[:, 1:] - edges[:, :-1]).clamp_min(1e-12)
    t = (x[:, :, None] - left[None]) / width[None]
    n = edges.shape[1] - 1
    lower = torch.zeros(n, device=x.device, dtype=t.dtype)
    upper = torch.ones(n, device=x.device, dtype=t.dtype)
    lower[0], upper[-1] = -PLE_EXTEND, 1 + PLE_EXTEND
    return torch.maximum(torch.minimum(t, upper), lower)
