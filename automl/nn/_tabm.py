"""TabM (Gorishniy et al., ICLR 2025): one MLP that imitates an ensemble of E MLPs, its submodels.

The E submodels (E = n_submodels) share the body's weights and differ in cheap parts of their own:
"mini" scales the input by a submodel's own adapter (initialised with random signs, or N(0, 1) after
numeric embeddings); "full" is BatchEnsemble, every linear layer wrapped in a submodel's input and
output scalings (ones at the start, but the first) and its own bias. Each submodel has its own output
head. Training minimises the mean of the E submodels' losses; the prediction is the mean of their
predictions (probabilities for a classifier), optionally over the subset that scores best on the
validation rows (`prune_submodels`).

As with StackedMLP, the K members of a pack (K trials) live in one flat [K, P] parameter, so a pack
of TabM trials trains as one: activations are [K, E, B, width].
"""

from __future__ import annotations

import torch

from automl.nn._model import StackedMLP


class StackedTabM(StackedMLP):
    """K TabMs of one shape (a pack), each of shape.n_submodels submodels."""

    MEMBER_BUFFERS = ("submodel_weights",)

    def __init__(self, shape, members):
        super().__init__(shape, members)
        e = shape.n_submodels
        self.register_buffer("submodel_weights", torch.full((self.pack_size, e), 1.0 / e))  # the prediction's mean

    def _layout_body(self, width: int) -> None:
        e, hidden, full = self.shape.n_submodels, self.shape.hidden_width, self.shape.arch == "full"
        if not full:
            self.layout.append(("adapter", (e, width)))
        for i in range(self.shape.hidden_layers):
            if full:
                self.layout.append((f"r{i}", (e, width)))
            self.layout.append((f"w{i}", (width, hidden)))
            self.layout += [(f"s{i}", (e, hidden)), (f"b{i}", (e, hidden))] if full else [(f"b{i}", (1, hidden))]
            width = hidden
        self.layout += [("w_out", (e, width, self.shape.n_out)), ("b_out", (e, self.shape.n_out))]

    def _init_part(self, name, s, generator, fan_in):
        if name in ("adapter", "r0"):  # the first adapter makes the submodels differ: one draw per input feature
            sections = self._feature_widths()
            if self.shape.embedding == "none":
                draw = torch.randint(0, 2, (s[0], len(sections)), generator=generator).float() * 2 - 1
            else:
                draw = torch.randn((s[0], len(sections)), generator=generator)
            return draw.repeat_interleave(torch.tensor(sections), dim=1)
        if name[0] in "rs" and name[1:].isdigit():
            return torch.ones(s)
        if name[0] == "b" and name[1:] in ("_out", *map(str, range(self.shape.hidden_layers))):
            return super()._init_part(name, (1, *s[1:]), generator, fan_in).expand(s)  # one bias init for all submodels
        return super()._init_part(name, s, generator, fan_in)

    def _feature_widths(self) -> list[int]:
        """How wide each input feature is where the first adapter scales it (its embedding, or 1)."""
        f, d = self.shape.n_numeric, self.shape.embedding_dim
        return [1 if self.shape.embedding == "none" else d] * f + [d] * len(self.shape.categories)

    def decay_mask(self) -> torch.Tensor:
        mask = [torch.full((size,), 0.0 if _no_decay(name) else 1.0)
                for (name, _), size in zip(self.layout, self.sizes)]
        return torch.cat(mask).unsqueeze(0)

    def forward(self, x: torch.Tensor, dropout_generator: torch.Generator | None = None) -> torch.Tensor:
        """x: [B, n_in] → every submodel's logits: [K, E, B, n_out]."""
        w, e, full = self.weights(), self.shape.n_submodels, self.shape.arch == "full"
        h = self.embed(x, w).unsqueeze(1)  # [K, 1, B, width]
        pack, b = h.shape[0], h.shape[2]
        if not full:
            h = h * w["adapter"].unsqueeze(2).to(h.dtype)  # [K, E, B, width]
        for i in range(self.shape.hidden_layers):
            if full:
                h = h * w[f"r{i}"].unsqueeze(2).to(h.dtype)
            rows = h.reshape(pack, e * b, h.shape[-1])  # the E submodels' rows through one shared weight: one bmm
            if full:
                h = torch.bmm(rows, w[f"w{i}"]).view(pack, e, b, -1)
                h = torch.relu(h * w[f"s{i}"].unsqueeze(2).to(h.dtype) + w[f"b{i}"].unsqueeze(2).to(h.dtype))
            else:
                h = torch.relu(torch.baddbmm(w[f"b{i}"], rows, w[f"w{i}"])).view(pack, e, b, -1)
            if self.training and self.use_dropout:
                h = self._dropout(h.reshape(pack, e * b, -1), dropout_generator).view(pack, e, b, -1)
        return torch.matmul(h, w["w_out"]) + w["b_out"].unsqueeze(2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return combine(self(x), self.submodel_weights, self.shape.loss)

    @torch.no_grad()
    def select_submodels(self, X: torch.Tensor, y: torch.Tensor, losses) -> None:
        """Keep, per TabM, the m submodels with the lowest validation loss, m chosen to minimise the
        loss of their mean prediction (`losses(logits [K, B, n_out], y) → [K]`)."""
        self.eval()
        chunk = max(1024, 65536 // self.shape.n_submodels)
        out = torch.cat([self(X[i:i + chunk]).float() for i in range(0, len(X), chunk)], dim=2)  # [K, E, B, n_out]
        pack, e = out.shape[:2]
        alone = torch.stack([losses(out[:, j], y) for j in range(e)], dim=1)  # [K, E]
        order = alone.argsort(dim=1)
        best_loss = torch.full((pack,), float("inf"), device=out.device)
        best = self.submodel_weights.clone()
        for m in range(1, e + 1):
            weights = torch.zeros(pack, e, device=out.device).scatter_(1, order[:, :m], 1.0 / m)
            loss = losses(combine(out, weights, self.shape.loss), y)
            better = loss < best_loss - 1e-9
            best_loss = torch.where(better, loss, best_loss)
            best = torch.where(better[:, None], weights, best)
        self.submodel_weights.copy_(best)


def combine(out: torch.Tensor, weights: torch.Tensor, loss: str) -> torch.Tensor:
    """Submodels' logits [K, E, B, n_out] → the TabM's [K, B, n_out]: the weighted mean of the
    predictions (probabilities for a classifier, given back as logits: log p, or logit(p))."""
    weights = weights.float()[:, :, None, None]
    out = out.float()
    if loss == "mse":
        return (out * weights).sum(dim=1)
    if loss == "bce":
        p = (torch.sigmoid(out) * weights).sum(dim=1).clamp(1e-7, 1 - 1e-7)
        return torch.log(p) - torch.log1p(-p)
    p = (torch.softmax(out, dim=-1) * weights).sum(dim=1)
    return torch.log(p.clamp_min(1e-12))


def _no_decay(name: str) -> bool:
    return name.startswith("b") or name in ("embed_b", "frequencies", "adapter") or (
        name[0] in "rs" and name[1:].isdigit())


def make_model(shape, members) -> StackedMLP:
    """The module a shape describes: a TabM when it names a TabM arch, else the plain MLP."""
    return (StackedTabM if shape.arch != "none" else StackedMLP)(shape, members)
