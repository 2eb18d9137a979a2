"""A small customers table (numbers, a category with gaps, an id column, a yes/no label), from which
tests/conftest.py's session `champion` is trained and the service tests draw their batches."""

import numpy as np
import pandas as pd


def customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    plan = rng.choice(["basic", "plus", "pro"], size=n).astype(object)
    plan[rng.random(n) < 0.1] = None
    return pd.DataFrame({"customer_id": np.arange(n) + 1000, "visits": rng.integers(0, 40, size=n),
                         "spend": rng.gamma(2.0, 50.0, size=n), "signal": signal, "plan": plan,
                         "label": np.where(signal + 0.3 * rng.normal(size=n) > 0, "yes", "no")})
