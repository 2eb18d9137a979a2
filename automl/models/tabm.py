from __future__ import annotations

from automl.models._base import FamilyContext, Suggest
from automl.models._torch import TorchFamily

# On a CPU a TabM of n submodels costs about n times an MLP of its width (a 2-core VM: 8 submodels,
# 2 x 256 and PLE take ~2.4 s an epoch on adult's 24,420 training rows; 32 submodels, 3 x 512 take
# ~27 s). The paper's sizes are kept for CUDA; on a CPU the submodels and widths are cut so that a default trial fits a
# 300-s run's search.
CUDA = {"n_submodels": 32, "hidden_layers": (1, 4, 3), "hidden_width": (64, 1024, 512)}
CPU = {"n_submodels": 8, "hidden_layers": (1, 3, 2), "hidden_width": (32, 256, 128)}


class TabM(TorchFamily):
    """TabM (Gorishniy et al., ICLR 2025): an MLP that imitates n_submodels MLPs by sharing their weights
    (mini: one adapter per submodel at the input; full: BatchEnsemble scalings on every layer), trained on
    the mean of the submodels' losses, predicting their mean. Numeric features are robust-scaled, smoothly
    clipped and embedded (piecewise-linear over the training fold's quantile bins, or periodic);
    categories are integer codes embedded by the network (no one-hot block), missing values allowed.

    The space follows the paper's (AdamW; lr 1e-4..5e-3; weight decay 1e-5..1e-1; dropout 0..0.5;
    embeddings 8..32 wide; PLE with 8..64 bins where the paper goes 2..128), plus the choice of numeric
    embedding, with the submodels and widths the device can afford (CUDA and CPU above).
    """

    name = "tabm"
    native_categorical = True  # raw numbers with gaps and category codes: it scales and embeds them itself
    classifier, regressor = "TabMClassifier", "TabMRegressor"

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

    def fixed(self, context: FamilyContext) -> dict:
        sizes = CUDA if context.device == "cuda" else CPU
        batch_size = 256 if context.n_rows < 20_000 else 512
        return {"n_submodels": sizes["n_submodels"], "batch_size": batch_size, "max_epochs": 100, "patience": 16}
