"""Where a run's PyTorch models will train, decided without importing PyTorch where the answer is
plain: `cpu` asked for, or `auto` on a machine without NVIDIA's driver (no libcuda to load), is the
CPU. Importing PyTorch costs a run's checks about 2 s; on a machine with the driver, PyTorch decides
(resolve_device: its CUDA build and the devices it sees)."""

from __future__ import annotations

import ctypes
import importlib


def has_cuda_driver() -> bool:
    """Whether NVIDIA's driver library loads on this machine (PyTorch's CUDA build needs it)."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def device_type(requested: str = "auto") -> str:
    """resolve_device(requested).type, with PyTorch imported only where the driver could give CUDA."""
    if requested == "cpu" or (requested == "auto" and not has_cuda_driver()):
        return "cpu"
    return importlib.import_module("automl.nn._device").resolve_device(requested).type
