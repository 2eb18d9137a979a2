"""More rows than the training table: MUNGE (Bucilă, Caruana and Niculescu-Mizil 2006, as AutoGluon's
distillation uses it), on the cleaned columns the pipelines see.

Each synthetic row starts from a training row e and its nearest neighbour e' (in the space the MLP
sees: numbers imputed and standardised, categories one-hot). For each column, with probability
`swap`: a category takes e''s value; a number is drawn from N(e'_c, |e_c - e'_c| / spread) (where
either is missing, e''s value is taken); a free-text cell is swapped whole, as a category. Rounds
over every row are made until `n_rows` are drawn, then shuffled. The rows carry no label: the
teacher gives them one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from automl.features import build_preprocessor

SWAP = 0.5  # AutoGluon's default: each column comes from the neighbour with this probability
SPREAD = 1.0  # the jitter's scale: |e - e'| / SPREAD
BLOCK_ROWS = 20_000  # neighbours are found within blocks of this many rows (a bounded cost on large tables)


def nearest_neighbours(X: pd.DataFrame, numeric: list[str], categorical: list[str], seed: int) -> np.ndarray:
    """For each row, the index of its nearest other row (within a random block of BLOCK_ROWS rows)."""
    space = build_preprocessor(numeric, categorical).fit_transform(X)
    order = np.random.default_rng(seed).permutation(len(X))
    partner = np.empty(len(X), dtype=np.int64)
    for start in range(0, len(X), BLOCK_ROWS):
        block = order[start:start + BLOCK_ROWS]
        if len(block) < 2:  # a last block of one row: its neighbour is the row before it
            partner[block] = order[start - 1]
            continue
        found = NearestNeighbors(n_neighbors=2).fit(space[block]).kneighbors(space[block], return_distance=False)
        # (the first neighbour is the row itself, unless a duplicate came first: either way not itself)
        own = found[:, 0] == np.arange(len(block))
        partner[block] = block[np.where(own, found[:, 1], found[:, 0])]
    return partner


def munge(X: pd.DataFrame, numeric: list[str], categorical: list[str], n_rows: int, seed: int,
          swap: float = SWAP, spread: float = SPREAD) -> pd.DataFrame:
    """`n_rows` synthetic rows in X's columns (numbers as floats), drawn as the module says."""
    if n_rows <= 0 or len(X) < 2:
        return X.iloc[:0].copy()
    rng = np.random.default_rng(seed)
    X = X.reset_index(drop=True)
    partner = X.iloc[nearest_neighbours(X, numeric, categorical, seed)].reset_index(drop=True)
    rounds = []
    for _ in range(-(-n_rows // len(X))):
        rows = X.copy()
        for column in X.columns:
            take = rng.random(len(X)) < swap
            if column in numeric:
                mine, theirs = X[column].to_numpy(dtype=float), partner[column].to_numpy(dtype=float)
                drawn = rng.normal(theirs, np.abs(mine - theirs) / spread)
                drawn = np.where(np.isnan(drawn), theirs, drawn)  # (a missing value on either side)
                rows[column] = np.where(take, drawn, mine)
            else:
                rows[column] = X[column].where(~take, partner[column])
        rounds.append(rows)
    drawn = pd.concat(rounds, ignore_index=True)
    return drawn.iloc[rng.permutation(len(drawn))[:n_rows]].reset_index(drop=True)
