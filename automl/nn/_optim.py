"""Adam, AdamW and SGD over the flat [K, P] parameter, with a learning rate and a weight decay per
member: torch.optim has no per-row hyperparameters, so K members in one tensor need their own step.
Equal to torch.optim's, member by member (tests/nn/test_loop.py checks it)."""

from __future__ import annotations

import math

import torch
from torch import nn


class StackedOptimizer:
    """Adam, AdamW or SGD (Nesterov momentum) over the flat [K, P] parameter, per-member lr and decay."""

    def __init__(self, param: nn.Parameter, kind: str, lr: torch.Tensor, weight_decay: torch.Tensor,
                 betas=(0.9, 0.999), eps: float = 1e-8, momentum: float = 0.9, decay_mask: torch.Tensor | None = None):
        self.param, self.kind = param, kind
        self.base_lr = lr.view(-1, 1).to(param.device)
        self.lr = self.base_lr.clone()
        self.weight_decay = weight_decay.view(-1, 1).to(param.device)
        if decay_mask is not None:  # [1, P]: 0 where no decay applies (biases, a TabM's adapters)
            self.weight_decay = self.weight_decay * decay_mask.to(param.device)
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
    """The learning rate's factor at an epoch: constant; cosine from 1 to 0; or flat_cosine: 1 for the
    first half, then a cosine to 0 over the second."""
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / max_epochs))
    if kind == "flat_cosine":
        half = max_epochs / 2
        return 1.0 if epoch < half else 0.5 * (1 + math.cos(math.pi * (epoch - half) / half))
    return 1.0
