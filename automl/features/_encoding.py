"""A trial's text encoding (TextEncoding): which encoder its pipeline turns each free-text column into
numbers with (tfidf, minilm or minilm_tuned: automl.features._text and _tuned), to what width, and
where the run keeps its embeddings; built into one small pipeline per column (encode → reduce →
scale) for the preprocessor's ColumnTransformer."""

from __future__ import annotations

from dataclasses import dataclass

from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from automl.extras import FINE_TUNED, PRETRAINED, TFIDF
from automl.features._text import Reduce, SentenceEncoder, TextTfidf
from automl.features._tuned import TunedSentenceEncoder


@dataclass(frozen=True)
class TextEncoding:
    """How a pipeline encodes its text columns: the trial's encoder and width, and where the run
    keeps its embeddings (cache_dir: the checkpoint folder's, or None)."""

    columns: tuple[str, ...]
    encoder: str  # TFIDF, PRETRAINED or FINE_TUNED
    width: int
    seed: int = 0
    device: str = "auto"  # where the sentence encoder runs: auto (CUDA when there is one), cpu, cuda
    cache_dir: str | None = None
    task: str = "binary"  # what the fine-tuned encoder (FINE_TUNED) learns: binary, multiclass, regression

    def transformers(self) -> list[tuple[str, Pipeline, str]]:
        """(name, transformer, column) for a ColumnTransformer: one pipeline per text column."""
        return [(f"text{i}", self._steps(column), column) for i, column in enumerate(self.columns)]

    def _steps(self, column: str) -> Pipeline:
        if self.encoder == TFIDF:
            encode = TextTfidf()
        elif self.encoder == PRETRAINED:
            encode = SentenceEncoder(cache_dir=self.cache_dir, device=self.device)
        elif self.encoder == FINE_TUNED:
            encode = TunedSentenceEncoder(task=self.task, seed=self.seed, device=self.device)
        else:
            raise ValueError(f"unknown text encoder '{self.encoder}'; use {TFIDF}, {PRETRAINED} or {FINE_TUNED}")
        return Pipeline([("encode", encode), ("reduce", Reduce(self.width, self.seed, column)),
                         ("scale", StandardScaler())])
