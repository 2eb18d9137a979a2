"""A small table whose label is decided by words in a free-text column (issue 29): each review is
filler words around one word of praise or of complaint, which alone decides the label; the other
column is noise. Without the text, a model can only guess."""

import numpy as np
import pandas as pd

PRAISE = ["excellent", "love", "perfect", "wonderful", "superb", "great"]
COMPLAINT = ["terrible", "broken", "awful", "useless", "disappointing", "bad"]
# words no training row holds: a model that reads meaning, not tokens, still tells them apart
UNSEEN_PRAISE = ["fantastic", "brilliant", "delightful", "amazing"]
UNSEEN_COMPLAINT = ["horrible", "defective", "dreadful", "worthless"]
FILLER = ["the", "box", "arrived", "on", "time", "and", "it", "was", "a", "product", "for", "my", "kitchen",
          "today", "after", "two", "weeks", "of", "use", "this", "blender"]


def reviews(n: int, seed: int, praise=PRAISE, complaint=COMPLAINT) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    positive = rng.random(n) < 0.5
    texts = [" ".join([*rng.choice(FILLER, 5), "was" if i % 2 else "is", rng.choice(praise if good else complaint),
                       *rng.choice(FILLER, 4)]) for i, good in enumerate(positive)]
    return pd.DataFrame({"review": texts, "noise": rng.normal(size=n),
                         "label": np.where(positive, "good", "poor")})
