"""MLP training throughput, side by side in one process on the same data and model shape.

  (a) the usual loop: DataLoader over a TensorDataset (shuffle), nn.Sequential, torch.optim.AdamW
  (b) automl.nn.train, one model (K = 1)
  (c) automl.nn.train, K configurations packed (different learning rates and weight decays)

Prints samples/s, trials/s, the ratios, and achieved FLOP/s against the device's peak.
Usage: .venv/bin/python benchmarks/torch_throughput.py [--rows 100000] [--features 50] [--epochs 2] [--pack 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from automl.nn import Member, Shape, resolve_device, train

# Dense peaks in FLOP/s (bf16 on GPUs: what the trainer uses there).
GPU_PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def device_peak(device: torch.device) -> tuple[float, str]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAKS.items():
            if key in name:
                return peak, f"{name} bf16 dense"
        return float("nan"), name
    mhz = 0.0
    try:
        with open("/proc/cpuinfo") as info:
            mhz = max(float(line.split(":")[1]) for line in info if line.startswith("cpu MHz"))
    except (OSError, ValueError):
        pass
    cores = torch.get_num_threads()
    # fp32 with AVX2: 2 FMA units × 8 lanes × 2 FLOP per cycle per core (an estimate, not a reading)
    return cores * mhz * 1e6 * 32, f"CPU, {cores} threads × {mhz:.0f} MHz × 32 FLOP/cycle (estimate)"


def flops_per_sample(n_in: int, layers: int, width: int) -> float:
    """Forward multiply-adds × 2, times 3 for forward + backward."""
    macs = n_in * width + (layers - 1) * width * width + width
    return 3 * 2 * macs


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def dataloader_loop(X, y, layers, width, batch, epochs, device) -> float:
    """(a): the textbook loop. Returns seconds for `epochs` epochs."""
    torch.manual_seed(0)
    blocks, n = [], X.shape[1]
    for _ in range(layers):
        blocks += [nn.Linear(n, width), nn.ReLU(), nn.Dropout(0.1)]
        n = width
    model = nn.Sequential(*blocks, nn.Linear(n, 1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loader = DataLoader(TensorDataset(X, y), batch_size=batch, shuffle=True)
    loss_fn = nn.BCEWithLogitsLoss()
    sync(device)
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - started


def trainer_loop(X, y, layers, width, batch, epochs, device, k) -> float:
    """(b) with k = 1, (c) with k > 1. Returns seconds for `epochs` epochs of all k members."""
    shape = Shape(n_in=X.shape[1], n_out=1, hidden_layers=layers, hidden_width=width, loss="bce",
                  batch_size=batch, max_epochs=epochs, validation_fraction=0.0)  # no early stopping: no callback
    members = [Member(learning_rate=1e-3 * (1 + i % 4), weight_decay=1e-4 * (1 + i // 4), dropout=0.1, seed=i)
               for i in range(k)]
    return timed_train(X, y, shape, members, device)


def timed_train(X, y, shape, members, device) -> float:
    """Seconds automl.nn.train takes for these members, the data already on the device."""
    Xd, yd = X.to(device), y.to(device)
    sync(device)
    started = time.perf_counter()
    train(Xd, yd, shape, members, device, seed=0)
    sync(device)
    return time.perf_counter() - started


def run_case(X, y, layers, width, batch, epochs, pack, device, label, repeats):
    n = len(X)
    peak, peak_text = device_peak(device)
    per_sample = flops_per_sample(X.shape[1], layers, width)
    trainer_loop(X[:4096], y[:4096], layers, width, batch, 1, device, 1)  # warm-up: allocator, kernels
    timings = {"a": [], "b": [], "c": []}
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits every contender alike
        timings["a"].append(dataloader_loop(X, y, layers, width, batch, epochs, device))
        timings["b"].append(trainer_loop(X, y, layers, width, batch, epochs, device, 1))
        timings["c"].append(trainer_loop(X, y, layers, width, batch, epochs, device, pack))
    a, b, c = (statistics.median(timings[key]) for key in "abc")
    rows = [("(a) DataLoader + AdamW", a, 1), ("(b) trainer, one model", b, 1),
            (f"(c) trainer, {pack} packed", c, pack)]
    print(f"\n{label}: {n:,} rows × {X.shape[1]} features, {layers} × {width}, batch {batch}, {epochs} epochs, "
          f"median of {repeats}")
    print(f"{'contender':<26} {'seconds':>8} {'samples/s':>12} {'trials/s':>9} {'GFLOP/s':>9} {'% peak':>7}")
    for name, seconds, k in rows:
        samples = n * epochs * k / seconds
        achieved = samples * per_sample
        print(f"{name:<26} {seconds:>8.2f} {samples:>12,.0f} {k / seconds:>9.3f} {achieved / 1e9:>9.1f} "
              f"{100 * achieved / peak:>6.2f}%")
    print(f"ratios: (b)/(a) = {a / b:.2f}×   (c)/(b) trials/s = {(pack / c) / (1 / b):.2f}×   peak: {peak_text}")
    return a / b, (pack / c) * b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pack", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(args.rows, args.features, generator=generator)
    y = (X[:, :5].sum(dim=1, keepdim=True) + 0.5 * torch.randn(args.rows, 1, generator=generator) > 0).float()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {device}, "
          f"{torch.get_num_threads()} threads")
    run_case(X, y, 3, 128, 512, args.epochs, args.pack, device, "default case", args.repeats)
    run_case(X, y, 3, 256, 256, args.epochs, args.pack, device, "second shape", args.repeats)


if __name__ == "__main__":
    main()
