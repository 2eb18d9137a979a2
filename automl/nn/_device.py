"""Where PyTorch models train: decided once per run (automl.pipeline) and carried in FamilyContext."""

from __future__ import annotations

import torch


def resolve_device(requested: str = "auto") -> torch.device:
    """auto → CUDA when present, else CPU; an explicit 'cuda' without CUDA is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested != "cpu" and not requested.startswith("cuda"):
        raise ValueError(f"device '{requested}' is not one of 'auto', 'cpu', 'cuda'")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{requested}' was asked for, but CUDA is not available on this machine "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
            "set device: auto or device: cpu, or install a CUDA build of torch"
        )
    return torch.device(requested)
