"""PyTorch MLPs with the scikit-learn contract, so they sit in the same Pipeline as sklearn models.

The training loop keeps the whole training set on the device as tensors and slices shuffled index
batches from it (no per-sample DataLoader); it syncs with the host once per epoch, for early
stopping and the epoch callbacks (Optuna pruning, per-epoch metrics).
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

# callback(epoch, {"train_loss": float, "val_loss": float}); raising stops training (e.g. pruning).
EpochCallback = Callable[[int, dict[str, float]], None]
OPTIMIZERS = ("adam", "adamw", "sgd")


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
    if requested not in ("cpu",) and not requested.startswith("cuda"):
        raise ValueError(f"device '{requested}' is not one of 'auto', 'cpu', 'cuda'")
    return torch.device(requested)


def build_mlp(n_in: int, n_out: int, hidden_layers: int, hidden_width: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(hidden_layers):
        layers += [nn.Linear(width, hidden_width), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden_width
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class _TorchMLP(BaseEstimator):
    """Shared fit loop; subclasses say how targets become tensors and logits become predictions."""

    def __init__(self, hidden_layers: int = 2, hidden_width: int = 128, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, optimizer: str = "adamw",
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.15, device: str = "auto", random_state: int | None = None):
        self.hidden_layers = hidden_layers
        self.hidden_width = hidden_width
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state

    # -- subclass hooks -------------------------------------------------------------------------
    def _encode_target(self, y: np.ndarray) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def _loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- training -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"The 'optimizer' parameter of {type(self).__name__} must be one of "
                             f"{OPTIMIZERS}. Got {self.optimizer!r} instead.")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), got {self.validation_fraction}")
        if self.hidden_layers < 0 or self.hidden_width < 1 or self.batch_size < 1 or self.max_epochs < 1:
            raise ValueError("hidden_layers >= 0, hidden_width >= 1, batch_size >= 1 and max_epochs >= 1 must hold, "
                             f"but got ({self.hidden_layers}, {self.hidden_width}, {self.batch_size}, {self.max_epochs})")

    def _make_optimizer(self, params, device: torch.device) -> torch.optim.Optimizer:
        fused = {"fused": True} if device.type == "cuda" else {}
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.learning_rate, weight_decay=self.weight_decay, **fused)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay, **fused)
        return torch.optim.SGD(params, lr=self.learning_rate, weight_decay=self.weight_decay,
                               momentum=0.9, nesterov=True)

    def fit(self, X, y, callbacks: list[EpochCallback] | None = None):
        self._check_params()
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        assert X.ndim == 2 and len(X) == len(y), f"X {X.shape} and y {y.shape} must have matching rows"
        device = resolve_device(self.device)
        self.device_ = str(device)
        self.n_features_in_ = X.shape[1]
        target, n_out = self._encode_target(y)

        seed = 0 if self.random_state is None else int(self.random_state)
        cuda_devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda_devices):
            torch.manual_seed(seed)
            self.model_, self.history_ = self._fit_loop(
                torch.from_numpy(X).to(device), target.to(device), n_out, device, seed, callbacks or []
            )
        self.n_epochs_ = len(self.history_)
        return self

    def _fit_loop(self, X: torch.Tensor, y: torch.Tensor, n_out: int, device: torch.device, seed: int,
                  callbacks: list[EpochCallback]):
        generator = torch.Generator(device=device).manual_seed(seed)
        order = torch.randperm(len(X), generator=generator, device=device)
        n_val = int(len(X) * self.validation_fraction) if len(X) >= 20 else 0
        val_idx, train_idx = order[:n_val], order[n_val:]
        X_train, y_train = X[train_idx], y[train_idx]
        X_val, y_val = X[val_idx], y[val_idx]

        model = build_mlp(X.shape[1], n_out, self.hidden_layers, self.hidden_width, self.dropout).to(device)
        optimizer = self._make_optimizer(model.parameters(), device)
        # bf16 autocast on CUDA (no loss scaling needed); plain fp32 on CPU.
        autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

        best_loss, best_state, stale, history = float("inf"), None, 0, []
        n_train = len(X_train)
        for epoch in range(self.max_epochs):
            model.train()
            perm = torch.randperm(n_train, generator=generator, device=device)
            loss_sum = torch.zeros((), device=device)
            for start in range(0, n_train, self.batch_size):
                idx = perm[start:start + self.batch_size]
                with autocast:
                    loss = self._loss(model(X_train[idx]), y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach() * len(idx)  # stays on the device: no sync per batch

            model.eval()
            with torch.no_grad(), autocast:
                val_loss = self._loss(model(X_val), y_val) if n_val else loss_sum / n_train
            record = {"train_loss": (loss_sum / n_train).item(), "val_loss": float(val_loss)}
            history.append(record)
            for callback in callbacks:
                callback(epoch, record)
            if record["val_loss"] < best_loss - 1e-6:
                best_loss, stale = record["val_loss"], 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return model, history

    def _logits(self, X) -> torch.Tensor:
        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; {type(self).__name__} was fitted on "
                             f"{self.n_features_in_} features")
        device = next(self.model_.parameters()).device
        outputs = []
        with torch.no_grad():
            for start in range(0, len(X), 65536):
                chunk = torch.from_numpy(X[start:start + 65536]).to(device)
                outputs.append(self.model_(chunk).float().cpu())
        return torch.cat(outputs) if outputs else torch.zeros((0, 1))

    def __getstate__(self):
        # Pickle fitted models on the CPU, so a model trained on a GPU loads anywhere.
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = copy.deepcopy(self.model_).to("cpu")
        return state


class TorchMLPClassifier(ClassifierMixin, _TorchMLP):
    """Binary and multiclass classification with softmax cross-entropy."""

    def __init__(self, hidden_layers: int = 2, hidden_width: int = 128, dropout: float = 0.1,
                 learning_rate: float = 1e-3, weight_decay: float = 1e-4, optimizer: str = "adamw",
                 batch_size: int = 128, max_epochs: int = 100, patience: int = 10,
                 validation_fraction: float = 0.15, device: str = "auto", random_state: int | None = None,
                 label_smoothing: float = 0.0):
        super().__init__(hidden_layers, hidden_width, dropout, learning_rate, weight_decay, optimizer,
                         batch_size, max_epochs, patience, validation_fraction, device, random_state)
        self.label_smoothing = label_smoothing

    def _encode_target(self, y):
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes, got {self.classes_.tolist()}")
        return torch.from_numpy(codes.astype(np.int64)), len(self.classes_)

    def _loss(self, logits, target):
        return nn.functional.cross_entropy(logits.float(), target, label_smoothing=self.label_smoothing)

    def predict_proba(self, X) -> np.ndarray:
        return torch.softmax(self._logits(X), dim=1).numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self._logits(X).argmax(dim=1).numpy()]


class TorchMLPRegressor(RegressorMixin, _TorchMLP):
    """Regression on a standardised target with mean squared error."""

    def _encode_target(self, y):
        y = y.astype(np.float64)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        return torch.from_numpy(((y - self.y_mean_) / self.y_std_).astype(np.float32)).unsqueeze(1), 1

    def _loss(self, logits, target):
        return nn.functional.mse_loss(logits.float(), target)

    def predict(self, X) -> np.ndarray:
        return self._logits(X).numpy()[:, 0].astype(np.float64) * self.y_std_ + self.y_mean_
