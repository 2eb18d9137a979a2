"""text.fine_tune: the pretrained sentence encoder with its last transformer layer fine-tuned on the
training rows' labels, as a third text encoder a trial may choose (FINE_TUNED, "minilm_tuned").

Fitting trains a copy of all-MiniLM-L6-v2's last layer together with a linear head on its
mean-pooled states (cross-entropy on the classes, or squared error on the standardized target) for
TUNE_EPOCHS epochs with AdamW; transforming runs the tuned layer and pools as the frozen encoder does
(mean over the tokens, unit length), so the trial's model (MLP, TabM or any family) learns on
embeddings that have learned the task, after the same PCA to the trial's width. It is fitted inside
each CV fold, on the fold's training rows only, like TF-IDF.

What keeps it affordable: the five layers below stay frozen, so each distinct text's states entering
the last layer are computed once per process (LowerStates, bounded by MAX_STATE_BYTES) and every
fine-tuning trains one layer on them; texts are cut to TUNE_TOKENS tokens; and a fold's tuned layer
is kept (_TUNED) for every later trial that fits the same rows, so a run pays one fine-tuning per
fold plus the refit. The tuned layer's weights (about 1.8 M numbers) are pickled into the registered
model; the frozen layers load from the text extra's package, as the frozen encoder's do.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from automl.features._text import (
    EMBEDDING_DIM,
    _digest,
    as_texts,
    distinct_texts,
    encoding_seconds,
    load_encoder,
    mean_pool,
    padded_ids,
    text_key,
)

TUNE_EPOCHS = 3
TUNE_TOKENS = 128  # texts are cut to this many tokens for fine-tuning (the frozen encoder reads 256)
TUNE_LEARNING_RATE = 1e-4
TUNE_BATCH = 32
MAX_STATE_BYTES = 2 << 30  # the lower layers' states kept in memory (float16), oldest dropped first
# One epoch costs about as much as encoding the same texts (measured on this project's 2-core CPU,
# benchmarks/fine_tune.py: 0.4× on 90-token reviews, 1.1× on 17-token titles).
TUNE_EPOCH_SHARE = 1.0


class TunedSentenceEncoder(TransformerMixin, BaseEstimator):
    """The sentence encoder whose last layer is fitted to the labels (see the module's docstring)."""

    def __init__(self, task: str = "binary", epochs: int = TUNE_EPOCHS, learning_rate: float = TUNE_LEARNING_RATE,
                 seed: int = 0, device: str = "auto"):
        self.task = task
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = device

    def fit(self, X, y) -> TunedSentenceEncoder:
        texts, labels = as_texts(X), np.asarray(y)
        key = (_digest(texts), _digest(labels.astype(str)), self.task, self.epochs, self.learning_rate, self.seed)
        with _tuned_lock:
            state = _TUNED.get(key)
        if state is None:  # (else another trial fitted the same fold's rows: the same layer)
            state = tune_last_layer(texts, labels, self.task, self.epochs, self.learning_rate, self.seed, self.device)
            with _tuned_lock:
                _TUNED[key] = state
                while len(_TUNED) > _KEPT_TUNED:
                    _TUNED.popitem(last=False)
        self.layer_state_ = state
        self._layer = None
        return self

    def transform(self, X) -> np.ndarray:
        import torch

        _, model, where = load_encoder(self.device)
        if getattr(self, "_layer", None) is None or next(self._layer.parameters()).device.type != where:
            layer = copy.deepcopy(model.encoder.layer[-1])
            layer.load_state_dict({name: torch.from_numpy(value) for name, value in self.layer_state_.items()})
            self._layer = layer.to(where).eval()
        texts = as_texts(X)
        codes, distinct = distinct_texts(texts)
        states = lower_states(distinct, self.device)
        out = np.zeros((len(distinct), EMBEDDING_DIM), dtype=np.float32)
        order = np.argsort([len(state) for state in states], kind="stable")
        with torch.inference_mode():
            for start in range(0, len(order), 4 * TUNE_BATCH):
                batch = order[start:start + 4 * TUNE_BATCH]
                hidden, mask = _padded([states[i] for i in batch], where)
                pooled = mean_pool(_run(self._layer, hidden, mask), mask)
                out[batch] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out[codes] if len(texts) else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([f"tuned{i}" for i in range(EMBEDDING_DIM)], dtype=object)

    def __getstate__(self):
        state = super().__getstate__()
        return {**state, "_layer": None}  # (rebuilt from layer_state_ on the first transform)


_TUNED: OrderedDict[tuple, dict[str, np.ndarray]] = OrderedDict()  # a fold's tuned layer, newest last
_KEPT_TUNED = 8
_tuned_lock = threading.Lock()


def tune_last_layer(texts: np.ndarray, labels: np.ndarray, task: str, epochs: int, learning_rate: float, seed: int,
                    device: str = "auto") -> dict[str, np.ndarray]:
    """The last layer's weights after `epochs` of training with a linear head on the labels (the
    head is dropped: the layer is what the encoder keeps)."""
    import torch

    _, model, where = load_encoder(device)
    codes, distinct = distinct_texts(texts)
    states = lower_states(distinct, device)
    states = [states[code] for code in codes]
    if task == "regression":
        target = labels.astype(np.float64)
        target = torch.tensor((target - target.mean()) / (target.std() or 1.0), dtype=torch.float32)
        outputs, loss_of = 1, lambda out, y: torch.nn.functional.mse_loss(out[:, 0], y)
    else:
        classes, target = np.unique(labels.astype(str), return_inverse=True)
        target = torch.tensor(target, dtype=torch.long)
        outputs, loss_of = len(classes), torch.nn.functional.cross_entropy
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = copy.deepcopy(model.encoder.layer[-1]).to(where).train()
        head = torch.nn.Linear(EMBEDDING_DIM, outputs).to(where)
        optimizer = torch.optim.AdamW([*layer.parameters(), *head.parameters()], lr=learning_rate, weight_decay=0.01)
        order = np.argsort([len(state) for state in states], kind="stable")  # batches of like lengths: little padding
        batches = [order[start:start + TUNE_BATCH] for start in range(0, len(order), TUNE_BATCH)]
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            for i in rng.permutation(len(batches)):
                hidden, mask = _padded([states[j] for j in batches[i]], where)
                loss = loss_of(head(mean_pool(_run(layer, hidden, mask), mask)), target[batches[i]].to(where))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    return {name: value.detach().cpu().numpy().copy() for name, value in layer.state_dict().items()}


def _run(layer, hidden, mask):
    """The layer on padded states: padding masked out of the attention (an additive mask)."""
    additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * -1e4
    out = layer(hidden, additive)
    return out[0] if isinstance(out, tuple) else out


def _padded(states: list[np.ndarray], where: str):
    import torch

    longest = max(len(state) for state in states)
    hidden = np.zeros((len(states), longest, EMBEDDING_DIM), dtype=np.float32)
    mask = np.zeros((len(states), longest), dtype=np.int64)
    for row, state in enumerate(states):
        hidden[row, :len(state)] = state
        mask[row, :len(state)] = 1
    return torch.from_numpy(hidden).to(where), torch.from_numpy(mask).to(where)


# -- the frozen layers' states, once per text ------------------------------------------------------
class LowerStates:
    """Each text's states entering the encoder's last layer ([tokens, EMBEDDING_DIM] float16), by a
    digest of the text; at most MAX_STATE_BYTES, the least recently used dropped first."""

    def __init__(self, limit: int = MAX_STATE_BYTES):
        self.limit = limit
        self.states: OrderedDict[str, np.ndarray] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        state = self.states.get(key)
        if state is not None:
            self.states.move_to_end(key)
        return state

    def add(self, key: str, state: np.ndarray) -> None:
        self.states[key] = state
        self.size += state.nbytes
        while self.size > self.limit and len(self.states) > 1:
            self.size -= self.states.popitem(last=False)[1].nbytes


_STATES = LowerStates()


def lower_states(texts, device: str = "auto") -> list[np.ndarray]:
    """The states entering the last layer, one array per text: those not kept are computed (the
    frozen layers in batches of like lengths, texts cut to TUNE_TOKENS)."""
    import torch

    keys = [text_key(text) for text in texts]
    with _STATES.lock:
        found = [_STATES.get(key) for key in keys]
        lacking = [i for i, state in enumerate(found) if state is None]
        if lacking:
            tokenizer, model, where = load_encoder(device)
            encodings = [_cut(e.ids) for e in tokenizer.encode_batch([texts[i] for i in lacking])]
            order = np.argsort([len(ids) for ids in encodings], kind="stable")
            for start in range(0, len(order), 2 * TUNE_BATCH):
                batch = order[start:start + 2 * TUNE_BATCH]
                ids, mask = padded_ids([encodings[j] for j in batch])
                with torch.inference_mode():
                    hidden = model(input_ids=ids.to(where), attention_mask=mask.to(where),
                                   output_hidden_states=True).hidden_states[-2].cpu().numpy()
                for row, j in enumerate(batch):
                    state = hidden[row, :len(encodings[j])].astype(np.float16)
                    found[lacking[j]] = state
                    _STATES.add(keys[lacking[j]], state)
    return found


def _cut(ids: list[int]) -> list[int]:
    """At most TUNE_TOKENS tokens, the closing [SEP] kept."""
    return ids if len(ids) <= TUNE_TOKENS else ids[:TUNE_TOKENS - 1] + ids[-1:]


def uncached_tuning_seconds(X, columns: list[str]) -> float:
    """About how long the next fine-tuning on X's text columns takes: the frozen layers' states for
    the texts not kept yet, then the epochs on every text. Imports no PyTorch."""
    texts = [text for column in columns for text in as_texts(X[[column]])]
    with _STATES.lock:
        lacking = {text for text in texts if text_key(text) not in _STATES.states}
    return encoding_seconds(lacking) + TUNE_EPOCH_SHARE * TUNE_EPOCHS * encoding_seconds(texts)
