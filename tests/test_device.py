"""Device selection logic, with CUDA / MPS availability faked by monkeypatching."""

from __future__ import annotations

import logging

import pytest
import torch

from sam_core import device as dev


@pytest.fixture
def hw(monkeypatch):
    """Set which accelerators 'exist': hw(cuda=True, mps=False)."""

    def _set(cuda: bool = False, mps: bool = False, bf16: bool = True, count: int = 1):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count if cuda else 0)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    monkeypatch.delenv("SAM_DEVICE", raising=False)
    return _set


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")],
)
def test_auto_order(hw, cuda, mps, expected):
    hw(cuda=cuda, mps=mps)
    assert dev.pick_device().type == expected
    assert dev.pick_device("auto").type == expected


def test_override_and_env(hw, monkeypatch):
    hw(cuda=True, mps=True)
    assert dev.pick_device("cpu") == torch.device("cpu")
    assert dev.pick_device("MPS").type == "mps"
    monkeypatch.setenv("SAM_DEVICE", "cpu")
    assert dev.pick_device() == torch.device("cpu")
    assert dev.pick_device("mps").type == "mps"  # the argument beats the env var


def test_unavailable_override_falls_back_with_warning(hw, monkeypatch, caplog):
    hw(cuda=False, mps=False)
    choice = dev.resolve_device("cuda")
    assert choice.device.type == "cpu" and "not available" in choice.warning and "'cuda'" in choice.warning
    with caplog.at_level(logging.WARNING, logger="sam_core.device"):
        assert dev.pick_device("mps").type == "cpu"
    assert "mps" in caplog.text

    hw(cuda=True, count=1)
    assert dev.resolve_device("cuda:3").warning  # no 4th GPU
    assert dev.resolve_device("cuda:0").warning is None

    monkeypatch.setenv("SAM_DEVICE", "tpu")
    choice = dev.resolve_device()
    assert choice.device.type == "cuda" and "SAM_DEVICE 'tpu'" in choice.warning


def test_autocast_only_on_cuda(hw):
    hw(cuda=False, mps=True)
    for name in ("cpu", "mps"):
        ctx = dev.autocast_context(name, enabled_bf16=True)
        with ctx:
            assert not torch.is_autocast_enabled("cpu")
            x = torch.ones(2, 2) @ torch.ones(2, 2)
        assert x.dtype == torch.float32
    hw(cuda=True, bf16=True)
    assert isinstance(dev.autocast_context("cuda", enabled_bf16=True), torch.autocast)
    assert not isinstance(dev.autocast_context("cuda", enabled_bf16=False), torch.autocast)
    hw(cuda=True, bf16=False)
    assert not isinstance(dev.autocast_context("cuda", enabled_bf16=True), torch.autocast)


def test_to_device_non_blocking_only_on_cuda(monkeypatch):
    seen = {}

    class Probe(torch.Tensor):
        pass

    def fake_to(self, device, non_blocking=False):
        seen[torch.device(device).type] = non_blocking
        return self

    t = torch.zeros(1).as_subclass(Probe)
    monkeypatch.setattr(Probe, "to", fake_to)
    dev.to_device(t, "cpu")
    dev.to_device(t, torch.device("cuda"))
    dev.to_device(t, "mps")
    assert seen == {"cpu": False, "cuda": True, "mps": False}
    assert dev.to_device(torch.ones(2), "cpu").device.type == "cpu"


def test_device_report_and_mps_env(hw, monkeypatch):
    hw(cuda=False, mps=False)
    report = dev.device_report()
    assert report["device"] == "cpu" and report["bf16"] is False
    assert report["threads"] == torch.get_num_threads() and report["torch_version"] == torch.__version__
    assert {"name", "cuda_version", "cuda_available", "mps_available", "mps_fallback"} <= set(report)

    monkeypatch.delenv("PYTORCH_ENABLE_MPS_FALLBACK", raising=False)
    assert dev.set_mps_fallback_env() is None
    import os

    assert os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] == "1"
    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "0")  # the user's choice wins
    assert dev.set_mps_fallback_env() == "0" and os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] == "0"


def test_ensure_float32():
    layer = torch.nn.Linear(2, 2).to(torch.bfloat16)
    dev.ensure_float32(layer)
    assert layer.weight.dtype == torch.float32 and layer.bias.dtype == torch.float32
