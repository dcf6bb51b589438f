"""The device a run uses and its mixed precision (autocast, gradient scaling)."""

from __future__ import annotations

import contextlib

import torch


def resolve_device(device=None) -> torch.device:
    """``device`` as a ``torch.device``; CUDA when available if ``None``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA GPUs that support it, else fp16 on CUDA; ``None`` (fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None = None):
    """``torch.autocast`` for CUDA (bf16/fp16), a no-op context on CPU.

    ``dtype`` (e.g. ``torch.bfloat16``) autocasts to it on any device, the CPU
    included.
    """
    dtype = dtype or autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_scaler(device: torch.device):
    """A ``GradScaler`` when training in fp16 on CUDA (bf16 and fp32 need none)."""
    enabled = autocast_dtype(device) == torch.float16
    return torch.amp.GradScaler(device.type, enabled=enabled)
