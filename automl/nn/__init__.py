"""PyTorch models with the scikit-learn contract, and the loop that trains them.

- estimators: TorchMLPClassifier, TorchMLPRegressor, TabMClassifier, TabMRegressor (n_submodels MLPs sharing
  their weights, automl.nn._tabm); `fit_packed` trains several of one shape at once (a pack)
- their knobs, declared once: Network / TabMNetwork (`net`) and Training / TabMTraining (`training`);
  MEMBER_KNOBS, the ones packed estimators may differ in; Shape and Member, what a pack shares and what
  each member has of its own
- the loop: Trainer / train (fit → run_epoch → train_step), a pack's K members in one [K, P] parameter
- knowledge distillation: DistilledMLPClassifier (trained on a teacher's probabilities: the kd_* losses,
  distill_losses and distill_target), QuantizedMLP (a fitted plain MLP with int8 linear layers)
- callbacks: Callback (two hooks: `on_train_begin(state)`, `on_epoch_end(state)`), EarlyStopping
- StackedOptimizer: Adam/AdamW/SGD with a learning rate and weight decay per member
- resolve_device: auto → CUDA when present; device_type: the same answer's type, without importing
  PyTorch where the machine has no NVIDIA driver

Importing this package does not import PyTorch: the callbacks, the settings, Shape and Member are
plain Python, and the names that need PyTorch are imported on first use (PEP 562), so a run whose
families are all scikit-learn's never loads it.
"""

from importlib import import_module

from automl.nn._callbacks import Callback, EarlyStopping, TrainState
from automl.nn._driver import device_type, has_cuda_driver
from automl.nn._settings import MEMBER_KNOBS, Network, TabMNetwork, TabMTraining, Training
from automl.nn._shape import Member, Shape

# The names that import PyTorch, and the private module of each.
_TORCH_NAMES = {
    "resolve_device": "_device",
    **dict.fromkeys(["TabMClassifier", "TabMRegressor", "TorchMLPClassifier", "TorchMLPRegressor", "fit_packed"],
                    "_estimators"),
    **dict.fromkeys(["Trainer", "TrainResult", "distill_losses", "distill_target", "member_losses", "predict_logits",
                     "train"], "_loop"),
    **dict.fromkeys(["DistilledMLPClassifier", "QuantizedMLP", "to_sequential"], "_distilled"),
    "StackedMLP": "_model",
    **dict.fromkeys(["StackedOptimizer", "schedule_factor"], "_optim"),
    "StackedTabM": "_tabm",
}


def __getattr__(name: str):
    if name not in _TORCH_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_TORCH_NAMES[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))


__all__ = [
    "MEMBER_KNOBS", "Callback", "DistilledMLPClassifier", "EarlyStopping", "Member", "Network", "QuantizedMLP",
    "Shape", "StackedMLP", "StackedOptimizer", "StackedTabM", "TabMClassifier", "TabMNetwork", "TabMRegressor",
    "TabMTraining", "TorchMLPClassifier", "TorchMLPRegressor", "TrainResult", "TrainState", "Trainer", "Training",
    "device_type", "distill_losses", "distill_target", "fit_packed", "has_cuda_driver", "member_losses",
    "predict_logits", "resolve_device", "schedule_factor", "to_sequential", "train",
]
