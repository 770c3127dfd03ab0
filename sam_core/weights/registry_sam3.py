"""SAM 3's entries for the model registry (part of registry.KNOWN_MODELS).

Meta publishes SAM 3 on the Hugging Face hub as the *gated* repository ``facebook/sam3``:

- ``sam3.pt``: the official checkpoint, ``{"model": {"detector.*", "tracker.*"}}``; the image detector
  (``build_sam3``) uses the ``detector.`` keys, the SAM 2-style tracker head the ``tracker.`` ones.
- ``model.safetensors``: the same weights under ``transformers``' names (a ``Sam3VideoModel``: the
  detector under ``detector_model.``, the tracker under ``tracker_model.`` / ``tracker_neck.``);
  ``build_sam3`` renames them with ``sam_core/weights/sam3_hf_keys.py``. transformers' checkpoint has no
  point-*exemplar* projections (concept prompts there are phrases and boxes).

Capabilities: "text" and "boxes" are concept prompts (every instance); "points" are clicks for one
object, through the SAM 2-style tracker head (``build_sam3(..., enable_inst_interactivity=True)``).

Their byte counts and hashes could not be confirmed offline (the repository needs an accepted
licence), so they are ``None``: never guessed. The detector holds 840,509,750 parameters (counted by
``tests/test_sam3_units.py`` from Meta's own modules), about 3.4 GB in float32; with the tracker neck
and head for clicks, 852,533,447.
"""

from __future__ import annotations

from sam_core.weights.registry import ModelSpec

SAM3_REPO = "facebook/sam3"
SAM3_LICENCE = "SAM License"

SAM3_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="sam3",
        model_type="sam3",
        repo_id=SAM3_REPO,
        filename="sam3.pt",
        size_bytes=None,
        sha256=None,
        licence=SAM3_LICENCE,
        format="original",
        description="SAM 3 (Meta): phrase or exemplar box -> every instance, 840.5 M parameters (gated)",
        source_url=f"https://huggingface.co/{SAM3_REPO}",
        family="sam3",
        capabilities=frozenset({"text", "boxes", "points"}),
    ),
    ModelSpec(
        name="sam3_hf",
        model_type="sam3",
        repo_id=SAM3_REPO,
        filename="model.safetensors",
        size_bytes=None,
        sha256=None,
        licence=SAM3_LICENCE,
        format="transformers",
        description="SAM 3 (Meta), transformers' safetensors of the same weights (gated)",
        source_url=f"https://huggingface.co/{SAM3_REPO}",
        family="sam3",
        capabilities=frozenset({"text", "boxes", "points"}),
    ),
)


def gated_access_message(repo_id: str = SAM3_REPO, licence: str = SAM3_LICENCE) -> str:
    """What a student reads when the hub refuses the download (HTTP 401/403 on a gated repository)."""
    return (
        f"{repo_id} is a gated repository: its publisher shares it under the {licence} after you accept it.\n"
        f"1. Sign in at https://huggingface.co and open https://huggingface.co/{repo_id}; request access\n"
        "   (fill in the form and accept the licence; approval can take a while).\n"
        "2. On this machine run `hf auth login` and paste a token from https://huggingface.co/settings/tokens\n"
        "   (read access is enough).\n"
        "3. Choose SAM 3 again. Until then the lesson keeps working with its embedded models."
    )
