from __future__ import annotations

from automl.models._base import FamilyContext, ModelFamily, Suggest
from automl.nn import TabMClassifier, TabMRegressor, fit_packed

# On a CPU a TabM costs about k times an MLP of its width (a 2-core VM: k = 8, 2 x 256 and PLE take
# ~2.4 s an epoch on 26,000 rows; k = 32, 3 x 512 take ~27 s). The paper's sizes are kept for CUDA;
# on a CPU the members and widths are cut so that a default trial fits a 300-s run's search.
CUDA = {"k": 32, "hidden_layers": (1, 4, 3), "hidden_width": (64, 1024, 512)}
CPU = {"k": 8, "hidden_layers": (1, 3, 2), "hidden_width": (32, 256, 128)}


class TabM(ModelFamily):
    """TabM (Gorishniy et al., ICLR 2025): an MLP that imitates k MLPs by sharing their weights (mini:
    one adapter per member at the input; full: BatchEnsemble scalings on every layer), trained on the mean
    of the k losses, predicting the mean of the k members. Numeric features are robust-scaled, smoothly
    clipped and embedded (piecewise-linear over the training fold's quantile bins, or periodic);
    categories are integer codes embedded by the network (no one-hot block), missing values allowed.

    The space follows the paper's (AdamW; lr 1e-4..5e-3; weight decay 1e-5..1e-1; dropout 0..0.5;
    embeddings 8..32 wide; PLE with 8..64 bins where the paper goes 2..128), plus the choice of numeric
    embedding, with the members and widths the device can afford (CUDA and CPU above).
    """

    name = "tabm"
    native_categorical = True  # raw numbers with gaps and category codes: it scales and embeds them itself
    member_params = ("learning_rate", "weight_decay", "dropout")
    uses_device = True

    def suggest(self, s: Suggest, context: FamilyContext) -> None:
        sizes = CUDA if context.device == "cuda" else CPU
        s.categorical("arch", ["mini", "full"])
        s.int("hidden_layers", *sizes["hidden_layers"][:2])
        s.int("hidden_width", *sizes["hidden_width"][:2], log=True)
        if s.categorical("embedding", ["ple", "periodic", "none"]) == "ple":
            s.int("n_bins", 8, 64, log=True)
        s.int("embedding_dim", 8, 32, log=True)
        s.float("learning_rate", 1e-4, 5e-3, log=True)
        s.float("weight_decay", 1e-5, 1e-1, log=True)
        s.float("dropout", 0.0, 0.5)

    def defaults(self, context: FamilyContext) -> dict:
        sizes = CUDA if context.device == "cuda" else CPU
        return {"arch": "mini", "hidden_layers": sizes["hidden_layers"][2], "hidden_width": sizes["hidden_width"][2],
                "embedding": "ple", "n_bins": 48, "embedding_dim": 16, "learning_rate": 2e-3, "weight_decay": 3e-4,
                "dropout": 0.1}

    def build(self, params: dict, context: FamilyContext):
        estimator = TabMClassifier if context.is_classification else TabMRegressor
        sizes = CUDA if context.device == "cuda" else CPU
        batch_size = 256 if context.n_rows < 20_000 else 512
        fixed = {"k": sizes["k"], "batch_size": batch_size, "max_epochs": 100, "patience": 16}
        return estimator(**(fixed | params), device=context.device, random_state=context.seed)

    def fit(self, models: list, X, y, callbacks: list | None = None) -> None:
        fit_packed(models, X, y, callbacks)
