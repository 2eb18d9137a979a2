"""TabM training throughput on real training splits, side by side in one process (issue 16, figures 3-4).

  (a) the usual loop: a TabM-mini written as nn.Modules (shared MLP, one input adapter per submodel,
      a head each, PLE embeddings), a DataLoader over a TensorDataset (shuffle), torch.optim.AdamW,
      bf16 autocast on CUDA, the mean of the submodels' losses
  (b) automl.nn.train with the same TabM shape, one model (K = 1)
  (c) automl.nn.train with K TabM trials packed (different learning rates and weight decays)

The tables are the benchmark suite's training splits (benchmarks/.data, written by suite/tables.py),
prepared as the tabm family sees them: native preprocessing (numbers, category codes), then
automl.nn's Inputs (robust scaling, smooth clipping, codes with a slot for missing).
Prints seconds per epoch, samples/s (rows × epochs / s; a TabM row is one row per submodel), trials/s, ratios.
Usage: .venv/bin/python benchmarks/tabm_throughput.py [--tables adult diamonds] [--submodels 32] [--width 512]
       [--layers 3] [--epochs 2] [--pack 8 16] [--device auto]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch_throughput import sync, timed_train  # benchmarks/ is the script's folder: on sys.path

from automl.features import build_native_preprocessor
from automl.nn import Member, Shape, resolve_device
from automl.nn._inputs import Inputs
from automl.nn._model import ple

DATA = Path(__file__).resolve().parent / ".data"


def load(table: str):
    """X (numbers, then category codes, float32) and y as the tabm family trains on them."""
    meta = json.loads((DATA / table / "meta.json").read_text())
    frame = pd.read_parquet(DATA / table / "train.parquet")
    y = frame.pop(meta["target"])
    categorical = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in frame if c not in categorical]
    transformer, mask = build_native_preprocessor(numeric, categorical)
    X = transformer.fit_transform(frame).astype(np.float32)
    inputs = Inputs.fit(X, mask, robust=True)
    if meta["task"] == "regression":
        target, loss, n_out = torch.tensor(((y - y.mean()) / y.std()).to_numpy(np.float32)).unsqueeze(1), "mse", 1
    elif meta["task"] == "binary":
        codes = pd.factorize(y, sort=True)[0]
        target, loss, n_out = torch.tensor(codes, dtype=torch.float32).unsqueeze(1), "bce", 1
    else:
        codes = pd.factorize(y, sort=True)[0]
        target, loss, n_out = torch.tensor(codes, dtype=torch.int64), "ce", int(codes.max()) + 1
    return torch.from_numpy(inputs.transform(X)), target, inputs.cardinalities, loss, n_out


class PlainTabM(nn.Module):
    """(a)'s model: TabM-mini with PLE, written the usual way (modules, one per part)."""

    def __init__(self, shape: Shape, edges: torch.Tensor):
        super().__init__()
        f, d, e = shape.n_numeric, shape.embedding_dim, shape.n_submodels
        self.f = f
        self.register_buffer("edges", edges)
        self.embed = nn.Parameter(torch.randn(f, shape.n_bins, d) / shape.n_bins ** 0.5)
        self.embed_b = nn.Parameter(torch.zeros(f, d))
        self.categories = nn.ModuleList(nn.Embedding(c, d) for c in shape.categories)
        width = f * d + len(shape.categories) * d
        self.adapter = nn.Parameter(torch.randn(e, width))
        layers = []
        for _ in range(shape.hidden_layers):
            layers += [nn.Linear(width, shape.hidden_width), nn.ReLU(), nn.Dropout(0.1)]
            width = shape.hidden_width
        self.body = nn.Sequential(*layers)
        self.heads = nn.Parameter(torch.randn(e, width, shape.n_out) / width ** 0.5)
        self.heads_b = nn.Parameter(torch.zeros(e, 1, shape.n_out))

    def forward(self, x):
        numeric = torch.relu(torch.einsum("bft,ftd->bfd", ple(x[:, :self.f], self.edges), self.embed) + self.embed_b)
        parts = [numeric.flatten(1)] + [emb(x[:, self.f + i].long()) for i, emb in enumerate(self.categories)]
        h = torch.cat(parts, dim=1)[None] * self.adapter[:, None]  # [E, B, width]
        return torch.bmm(self.body(h), self.heads) + self.heads_b  # [E, B, n_out]


def plain_loop(X, y, shape, epochs, device) -> float:
    torch.manual_seed(0)
    edges = torch.quantile(X[:, :shape.n_numeric], torch.linspace(0, 1, shape.n_bins + 1), dim=0).T
    model = PlainTabM(shape, edges).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=3e-4)
    loader = DataLoader(TensorDataset(X, y), batch_size=shape.batch_size, shuffle=True)
    losses = {"mse": nn.MSELoss(), "bce": nn.BCEWithLogitsLoss(), "ce": nn.CrossEntropyLoss()}
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    sync(device)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                out = model(xb).float()
            if shape.loss == "ce":  # the mean of the submodels' losses
                loss = losses["ce"](out.flatten(0, 1), yb.repeat(out.shape[0]))
            else:
                loss = losses[shape.loss](out, yb.expand_as(out))
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - started


def trainer_loop(X, y, shape, epochs, device, pack_size) -> float:
    members = [Member(learning_rate=2e-3 * (1 + i % 4), weight_decay=3e-4 * (1 + i // 4), dropout=0.1, seed=i)
               for i in range(pack_size)]
    return timed_train(X, y, shape, members, device)


def run_table(table: str, args, device) -> None:
    X, y, categories, loss, n_out = load(table)
    shape = Shape(n_in=X.shape[1], n_out=n_out, hidden_layers=args.layers, hidden_width=args.width,
                  embedding="ple", n_bins=48, embedding_dim=16, categories=categories, loss=loss,
                  batch_size=args.batch, max_epochs=args.epochs, validation_fraction=0.0,
                  arch="mini", n_submodels=args.submodels)
    trainer_loop(X[:2048], y[:2048], shape, 1, device, 1)  # warm-up: allocator, kernels
    timings = {"a": [], "b": []} | {f"c{p}": [] for p in args.pack}
    for _ in range(args.repeats):  # interleaved: drift hits every contender alike
        timings["a"].append(plain_loop(X, y, shape, args.epochs, device))
        timings["b"].append(trainer_loop(X, y, shape, args.epochs, device, 1))
        for p in args.pack:
            timings[f"c{p}"].append(trainer_loop(X, y, shape, args.epochs, device, p))
    median = {key: statistics.median(v) for key, v in timings.items()}
    print(f"\n{table}: {len(X):,} rows, {X.shape[1]} columns ({len(categories)} categorical); "
          f"TabM-mini of {args.submodels} submodels, {args.layers} x {args.width}, PLE 48 bins, "
          f"batch {args.batch}, {args.epochs} epochs, median of {args.repeats}")
    print(f"{'contender':<28} {'s/epoch':>8} {'samples/s':>12} {'trials/s':>9}")
    rows = [("(a) DataLoader + modules", median["a"], 1), ("(b) trainer, one TabM", median["b"], 1)]
    rows += [(f"(c) trainer, {p} packed", median[f"c{p}"], p) for p in args.pack]
    for name, seconds, trials in rows:
        print(f"{name:<28} {seconds / args.epochs:>8.3f} {len(X) * args.epochs * trials / seconds:>12,.0f} "
              f"{trials / seconds:>9.3f}")
    packed = "   ".join(f"(c{p})/(b) trials/s = {p * median['b'] / median[f'c{p}']:.2f}×" for p in args.pack)
    print(f"ratios: (b)/(a) samples/s = {median['a'] / median['b']:.2f}×   {packed}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", nargs="+", default=["adult", "diamonds"])
    parser.add_argument("--submodels", type=int, default=32)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pack", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    for table in args.tables:
        run_table(table, args, device)


if __name__ == "__main__":
    main()
