"""Which torch device a step runs on: one resolver for training, inference, mining, the local
question writer and the Settings page (docs/ARCHITECTURE.md, "Map of owners").

A device is chosen by name (`Device`): "auto" picks a GPU (CUDA) when one is usable, else Apple's
mps, else the CPU; "cpu", "cuda" and "mps" are taken as named. Under torchrun (WORLD_SIZE > 1)
"cuda" means this process's own GPU, cuda:<LOCAL_RANK> (core/training/ddp.py).
Nothing here imports torch until a device is resolved.
"""

from __future__ import annotations

import os
from typing import Literal, get_args

Device = Literal["auto", "cpu", "cuda", "mps"]
DEVICES: tuple[Device, ...] = get_args(Device)


class DeviceError(ValueError):
    """A device that is unknown, or named but not usable on this machine (the message says)."""


def _cuda_usable() -> bool:
    import torch

    return torch.cuda.is_available()


def _mps_usable() -> bool:
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def world_size() -> int:
    """Processes training together (torchrun's WORLD_SIZE; 1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(choice: str = "auto", check: bool = False) -> str:
    """The torch device for `choice` (one of DEVICES): "auto" is cuda when a GPU is usable,
    else mps on Apple silicon, else cpu; a named device is returned as named, or with `check`
    refused (DeviceError) when it is not usable here. Under torchrun "cuda" becomes this
    rank's cuda:<LOCAL_RANK>, so each rank trains on its own GPU."""
    if choice not in DEVICES:
        raise DeviceError(f"device {choice!r} is not {', '.join(DEVICES[:-1])} or {DEVICES[-1]}")
    if choice == "auto":
        device = "cuda" if _cuda_usable() else "mps" if _mps_usable() else "cpu"
    else:
        device = choice
    if check and device == "cuda" and not _cuda_usable():
        raise DeviceError("no usable GPU (CUDA) found; choose auto or cpu")
    if check and device == "mps" and not _mps_usable():
        raise DeviceError("Apple's mps backend is not usable here; choose auto or cpu")
    if device == "cuda" and world_size() > 1:
        return f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    return device
