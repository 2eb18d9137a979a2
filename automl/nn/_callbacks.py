"""Callbacks of the training loop, in the skorch style: everything optional is a callback.

Two hooks: `on_train_begin(state)`, once before the first epoch, and `on_epoch_end(state)`, after
every epoch with the epoch's losses of every member still training. A callback stops one member
with `state.stop(member, reason)` (its best weights are kept) and the whole training by raising
(the exception reaches the caller of `fit`).
Early stopping is one; the search adds pruning and its out-of-time check (automl.search).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainState:
    """What the loop knows after an epoch, pack member by pack member (pack_size 1 for a model alone)."""

    pack_size: int
    epoch: int = -1
    history: list[list[dict[str, float]]] = field(default_factory=list)  # per member: one dict an epoch
    improved: list[bool] = field(default_factory=list)  # this epoch's validation loss is the member's best
    active: list[bool] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # why each member stopped ("max_epochs" until it does)

    def __post_init__(self) -> None:
        self.history = self.history or [[] for _ in range(self.pack_size)]
        self.active = self.active or [True] * self.pack_size
        self.stopped = self.stopped or ["max_epochs"] * self.pack_size

    def training(self) -> list[int]:
        """The members still training."""
        return [m for m in range(self.pack_size) if self.active[m]]

    def stop(self, member: int, reason: str) -> None:
        """Stop one member after this epoch; the first reason given is kept."""
        if self.active[member]:
            self.active[member], self.stopped[member] = False, reason

    def end_epoch(self, epoch: int, train_loss: list[float], val_loss: list[float], improved: list[bool]) -> None:
        self.epoch, self.improved = epoch, improved
        for m in self.training():
            self.history[m].append({"train_loss": train_loss[m], "val_loss": val_loss[m]})


class Callback:
    """Base class: override what you need."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first epoch (reset per-fit state here: one instance may serve several fits)."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After each epoch; state.history[m][-1] is member m's latest epoch."""


class EarlyStopping(Callback):
    """Stop a member once its validation loss has not improved for `patience` epochs."""

    def __init__(self, patience: int = 10):
        if patience < 1:
            raise ValueError(f"patience >= 1 must hold, but got patience={patience}")
        self.patience = patience

    def on_train_begin(self, state: TrainState) -> None:
        self.stale = [0] * state.pack_size

    def on_epoch_end(self, state: TrainState) -> None:
        for m in state.training():
            self.stale[m] = 0 if state.improved[m] else self.stale[m] + 1
            if self.stale[m] >= self.patience:
                state.stop(m, "early_stopping")
