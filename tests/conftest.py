"""Fixtures shared by the AppTest page tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def random_nano_checkpoint(tmp_path_factory) -> Path:
    """A build_sam("nano")-shaped checkpoint with random weights (test fixture, never the app default)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from sam_core.sam1.build import sam_model_registry

    torch.manual_seed(0)
    model = sam_model_registry["nano"]()
    path = tmp_path_factory.mktemp("weights") / "random_nano.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()  # the traced examples are cached per process; a new env var must be re-read


@pytest.fixture
def with_model(monkeypatch, random_nano_checkpoint) -> Path:
    """Run the app on the random nano fixture, with the default traced examples."""
    monkeypatch.setenv("SAM_CHECKPOINT", str(random_nano_checkpoint))
    monkeypatch.setenv("SAM_MODEL_TYPE", "nano")
    monkeypatch.delenv("SAM_LESSON_EXAMPLES", raising=False)
    clear_streamlit_caches()
    return random_nano_checkpoint


def require(module_name: str):
    """Import a test oracle (segment_anything, transformers, ...): skip when it is missing locally, FAIL
    under CI=true, where every oracle of requirements-dev.txt must be installed. Never for project modules."""
    import importlib
    import os

    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"test oracle {module_name!r} is missing under CI=true: {error}")
        pytest.skip(f"test oracle {module_name!r} is not installed ({error})")


@pytest.fixture(autouse=True)
def _work_store_in_tmp(monkeypatch, tmp_path):
    """Students' saved work (ui.work_store) goes to the test's tmp folder, never to ~/.cache."""
    monkeypatch.setenv("SAM_LESSON_WORK_DIR", str(tmp_path / "work_store"))
