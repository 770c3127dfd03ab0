"""The models the lesson knows how to fetch: one place for names, hub locations, sizes, hashes, licences.

Meta publishes SAM 1 at ``dl.fbaipublicfiles.com`` (not on the Hugging Face hub), so the original
``.pth`` files are fetched from a hub mirror that holds byte-identical copies
(``ybelkada/segment-anything``, ``checkpoints/sam_vit_*.pth``); the size and SHA-256 below are those of
Meta's files, so a mirror that changed a single byte is caught. Sources for the numbers (public
manifests that list the same byte counts and hashes independently; the first 6 hex digits of Meta's
file names are an MD5 prefix, not the SHA-256):

- sam_vit_b_01ec64.pth   375,042,383 bytes  sha256 ec2df627...c912
- sam_vit_l_0b3195.pth 1,249,524,607 bytes  sha256 3adcc431...a622
- sam_vit_h_4b8939.pth 2,564,550,879 bytes  sha256 a7bf3b02...262e
- mobile_sam.pt           40,728,226 bytes  sha256 6dbb9052...6c2f (ChaoningZhang/MobileSAM weights/;
  mirrored at dhkim2810/MobileSAM)

The ``facebook/sam-vit-*`` repositories hold the same weights converted to ``transformers`` names
(``model.safetensors``); their byte counts and hashes could not be confirmed offline, so they are
``None`` and only the hub's own size check applies. ``sam_core.weights.checkpoint.load_state_dict`` renames
their keys.

``nano`` is the small SAM trained in this project; its weights ship with the app (no download).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ModelSpec", "KNOWN_MODELS", "get_spec", "PROJECT_ROOT", "SAM1_CAPABILITIES"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_META_URL = "https://dl.fbaipublicfiles.com/segment_anything/"

Family = Literal["sam1", "sam2", "sam3"]
Capability = Literal["points", "boxes", "masks", "video", "text"]
SAM1_CAPABILITIES: frozenset[Capability] = frozenset({"points", "boxes", "masks"})  # one image, geometric prompts


@dataclass(frozen=True)
class ModelSpec:
    """Where one model's weights live and how to recognise them.

    Attributes:
      name: registry key shown in the app ("sam_vit_b").
      model_type: builder in ``sam_core.sam1.build.sam_model_registry`` ("vit_b", "vit_t", "nano", ...).
      repo_id: Hugging Face hub repository, or None for files shipped with the app.
      filename: path inside the repository (or, without a repo, relative to the project root).
      size_bytes: exact file size, or None when not known.
      sha256: hex digest of the file, or None when not known (never guessed).
      licence: SPDX id or a short phrase.
      format: "original" (segment_anything keys) or "transformers" (SamModel keys, mapped on load).
      description: one line for the model picker.
      source_url: where the publisher serves the file (for students who download it by hand).
      revision: hub branch, tag or commit.
      family: which SAM the weights belong to ("sam1", "sam2", "sam3"): which builder and predictor apply.
      capabilities: the prompts and modes the model takes ("points", "boxes", "masks", "video", "text").
    """

    name: str
    model_type: str
    repo_id: str | None
    filename: str
    size_bytes: int | None
    sha256: str | None
    licence: str
    format: Literal["original", "transformers"]
    description: str
    source_url: str | None = None
    revision: str = "main"
    family: Family = "sam1"
    capabilities: frozenset[Capability] = SAM1_CAPABILITIES

    @property
    def is_local(self) -> bool:
        """True for weights shipped with the app (no hub repository)."""
        return self.repo_id is None

    @property
    def local_path(self) -> Path | None:
        """Absolute path of shipped weights (None for hub models)."""
        return PROJECT_ROOT / self.filename if self.repo_id is None else None

    @property
    def hub_url(self) -> str | None:
        """Browser-friendly download URL on huggingface.co (None for shipped weights)."""
        if self.repo_id is None:
            return None
        return f"https://huggingface.co/{self.repo_id}/resolve/{self.revision}/{self.filename}"

    @property
    def size_label(self) -> str:
        """Human-readable size ("358 MiB"), or "size unknown"."""
        if self.size_bytes is None:
            return "size unknown"
        mib = self.size_bytes / 1024**2
        return f"{mib / 1024:.2f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


_SAM_LICENCE = "Apache-2.0"
_SPECS = (
    ModelSpec(
        name="nano",
        model_type="nano",
        repo_id=None,
        filename="assets/models/nano/sam_nano.safetensors",
        size_bytes=None,
        sha256=None,
        licence="this project's licence (trained here; see assets/models/nano model card)",
        format="original",
        description="Small SAM trained in this project on the lesson's scenes; ships with the app, no download",
    ),
    ModelSpec(
        name="mobile_sam",
        model_type="vit_t",
        repo_id="dhkim2810/MobileSAM",
        filename="mobile_sam.pt",
        size_bytes=40_728_226,
        sha256="6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f",
        licence=_SAM_LICENCE,
        format="original",
        description="MobileSAM: TinyViT encoder (5M params) distilled from SAM ViT-H, same prompt encoder/decoder",
        source_url="https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
    ),
    ModelSpec(
        name="sam_vit_b",
        model_type="vit_b",
        repo_id="ybelkada/segment-anything",
        filename="checkpoints/sam_vit_b_01ec64.pth",
        size_bytes=375_042_383,
        sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        licence=_SAM_LICENCE,
        format="original",
        description="Meta's SAM, ViT-B image encoder (91M params): the fastest original model",
        source_url=_META_URL + "sam_vit_b_01ec64.pth",
    ),
    ModelSpec(
        name="sam_vit_l",
        model_type="vit_l",
        repo_id="ybelkada/segment-anything",
        filename="checkpoints/sam_vit_l_0b3195.pth",
        size_bytes=1_249_524_607,
        sha256="3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        licence=_SAM_LICENCE,
        format="original",
        description="Meta's SAM, ViT-L image encoder (308M params)",
        source_url=_META_URL + "sam_vit_l_0b3195.pth",
    ),
    ModelSpec(
        name="sam_vit_h",
        model_type="vit_h",
        repo_id="ybelkada/segment-anything",
        filename="checkpoints/sam_vit_h_4b8939.pth",
        size_bytes=2_564_550_879,
        sha256="a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        licence=_SAM_LICENCE,
        format="original",
        description="Meta's SAM, ViT-H image encoder (636M params): the paper's default model",
        source_url=_META_URL + "sam_vit_h_4b8939.pth",
    ),
    *(
        ModelSpec(
            name=f"sam_vit_{letter}_hf",
            model_type=f"vit_{letter}",
            repo_id=f"facebook/sam-vit-{size}",
            filename="model.safetensors",
            size_bytes=None,
            sha256=None,
            licence=_SAM_LICENCE,
            format="transformers",
            description=f"Meta's SAM ViT-{letter.upper()} as converted for transformers (safetensors; keys mapped on load)",
        )
        for letter, size in (("b", "base"), ("l", "large"), ("h", "huge"))
    ),
)

# The SAM 2 and SAM 3 entries live beside their families' notes; they import ModelSpec (defined above).
from sam_core.weights.registry_sam2 import SAM2_SPECS  # noqa: E402
from sam_core.weights.registry_sam3 import SAM3_SPECS  # noqa: E402

KNOWN_MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (*_SPECS, *SAM2_SPECS, *SAM3_SPECS)}


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; a KeyError that lists the known names otherwise."""
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model '{name}'; known models: {', '.join(KNOWN_MODELS)}") from None
