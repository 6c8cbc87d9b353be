"""core.devices: one resolver picks the device of every step, from one set of names."""

from typing import get_type_hints

import pytest

from core import devices
from core.devices import DEVICES, Device, DeviceError, resolve_device


@pytest.fixture
def machine(monkeypatch):
    """A machine with the GPUs the test says (`machine(cuda=..., mps=...)`), outside torchrun."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)

    def make(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(devices, "_cuda_usable", lambda: cuda)
        monkeypatch.setattr(devices, "_mps_usable", lambda: mps)

    return make


def test_auto_prefers_cuda_then_mps_then_cpu(machine):
    machine(cuda=True, mps=True)
    assert resolve_device("auto") == "cuda"
    machine(mps=True)
    assert resolve_device() == "mps"
    machine()
    assert resolve_device("auto") == "cpu"


def test_a_named_device_is_taken_as_named_and_checked_on_request(machine):
    machine()
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda") == "cuda"  # the step itself reports a missing GPU
    with pytest.raises(DeviceError, match="no usable GPU"):
        resolve_device("cuda", check=True)
    with pytest.raises(DeviceError, match="mps"):
        resolve_device("mps", check=True)
    with pytest.raises(DeviceError, match="'tpu' is not auto, cpu, cuda or mps"):
        resolve_device("tpu")


def test_under_torchrun_cuda_is_this_ranks_own_gpu(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == "cuda:1"
    assert resolve_device("cuda") == "cuda:1"
    assert resolve_device("cpu") == "cpu"


def test_settings_and_training_offer_the_same_devices_mps_included():
    from core.settings import StudioSettings
    from core.training.config import TrainConfig

    assert get_type_hints(StudioSettings)["device"] == Device
    assert get_type_hints(TrainConfig)["device"] == Device
    assert DEVICES == ("auto", "cpu", "cuda", "mps")
    StudioSettings(device="mps").validate()
    TrainConfig(device="mps").validate()
