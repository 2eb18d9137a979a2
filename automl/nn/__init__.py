"""PyTorch models with the scikit-learn contract, and the loop that trains them.

- estimators: TorchMLPClassifier, TorchMLPRegressor, TabMClassifier, TabMRegressor (n_submodels MLPs sharing
  their weights, automl.nn._tabm); `fit_packed` trains several of one shape at once (a pack)
- their knobs, declared once: Network / TabMNetwork (`net`) and Training / TabMTraining (`training`);
  MEMBER_KNOBS, the ones packed estimators may differ in
- the loop: Trainer / train (fit → run_epoch → train_step), a pack's K members in one [K, P] parameter
- callbacks: Callback (two hooks: `on_train_begin(state)`, `on_epoch_end(state)`), EarlyStopping
- StackedOptimizer: Adam/AdamW/SGD with a learning rate and weight decay per member
- resolve_device: auto → CUDA when present
"""

from automl.nn._callbacks import Callback, EarlyStopping, TrainState
from automl.nn._device import resolve_device
from automl.nn._estimators import TabMClassifier, TabMRegressor, TorchMLPClassifier, TorchMLPRegressor, fit_packed
from automl.nn._loop import Trainer, TrainResult, member_losses, predict_logits, train
from automl.nn._model import Member, Shape, StackedMLP
from automl.nn._optim import StackedOptimizer, schedule_factor
from automl.nn._settings import MEMBER_KNOBS, Network, TabMNetwork, TabMTraining, Training
from automl.nn._tabm import StackedTabM

__all__ = [
    "MEMBER_KNOBS", "Callback", "EarlyStopping", "Member", "Network", "Shape", "StackedMLP", "StackedOptimizer",
    "StackedTabM", "TabMClassifier", "TabMNetwork", "TabMRegressor", "TabMTraining", "TorchMLPClassifier",
    "TorchMLPRegressor", "TrainResult", "TrainState", "Trainer", "Training", "fit_packed", "member_losses",
    "predict_logits", "resolve_device", "schedule_factor", "train",
]
