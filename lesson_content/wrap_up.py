"""The lesson's end (outline §14-16): the summary's takeaways with the pages that showed them, and the
evidence that SAM evolved additively — SAM 2's prompt encoder and mask decoder compared with SAM 1's,
parameter by parameter, from the builders on the 'meta' device (no weights, no time).

    rows = lineage()               # one LineageRow per component: shared / renamed / new parameters
    for t in TAKEAWAYS: ...        # text key in prose/summary.md, the outline sections that showed it

Imports no Streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from .page_table import MapEntry, lesson_map


@dataclass(frozen=True)
class Takeaway:
    key: str  # section of lesson_content/prose/summary.md
    sections: tuple[int, ...]  # outline sections whose pages showed it


# The revised outline's takeaways (plan §13 "Summarize" plus the depth rework's four), in lesson order.
TAKEAWAYS: tuple[Takeaway, ...] = (
    Takeaway("t_masks", (3,)),
    Takeaway("t_promptable", (5, 12)),
    Takeaway("t_amortized", (5, 7, 9)),
    Takeaway("t_fourier", (6,)),
    Takeaway("t_three_attentions", (7,)),
    Takeaway("t_multimask", (7, 9)),
    Takeaway("t_loss", (8,)),
    Takeaway("t_data_engine", (10,)),
    Takeaway("t_memory", (11,)),
    Takeaway("t_additive", (11, 12)),
    Takeaway("t_foundation", (14,)),
)


def pages_for(takeaway: Takeaway, entries: list[MapEntry] | None = None) -> list:
    """The PageRows that teach the takeaway's outline sections (none while those pages are still to come)."""
    rows = []
    for entry in entries if entries is not None else lesson_map():
        if entry.section.number in takeaway.sections:
            rows.extend(r for r in entry.pages if r not in rows)
    return rows


# ---- additive evolution, from the code ---------------------------------------------------------------------

# Meta's SAM 2 builds the two-way transformer's MLP with its generic MLP class, so the same two linear
# layers are called mlp.layers.0 / mlp.layers.1 instead of SAM 1's mlp.lin1 / mlp.lin2.
SAM2_RENAMES = ((".mlp.lin1.", ".mlp.layers.0."), (".mlp.lin2.", ".mlp.layers.1."))


@dataclass(frozen=True)
class LineageRow:
    component: str
    sam1_class: str
    sam2_class: str
    same: int  # parameters with the same name and shape in both
    renamed: int  # same shape, another name (SAM2_RENAMES)
    new: int  # only in SAM 2
    new_keys: tuple[str, ...]  # the new tensors' names, grouped by module
    sam1_total: int

    @property
    def reused_share(self) -> float:
        return (self.same + self.renamed) / self.sam1_total if self.sam1_total else float("nan")


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _class_path(module: torch.nn.Module) -> str:
    return f"{type(module).__module__}.{type(module).__qualname__}"


def _renamed(key: str) -> tuple[str, str]:
    """`key` with SAM2_RENAMES applied one way and the other (SAM 1's MLP names <-> SAM 2's)."""
    dotted = "." + key
    to_old, to_new = dotted, dotted
    for old_name, new_name in SAM2_RENAMES:
        to_old, to_new = to_old.replace(new_name, old_name), to_new.replace(old_name, new_name)
    return to_old[1:], to_new[1:]


def compare(component: str, sam1: torch.nn.Module, sam2: torch.nn.Module) -> LineageRow:
    a, b = _shapes(sam1), _shapes(sam2)
    same = renamed = new = 0
    new_keys: list[str] = []
    for key, shape in b.items():
        if a.get(key) == shape:
            same += _numel(shape)
        elif any(a.get(alias) == shape for alias in _renamed(key)):
            renamed += _numel(shape)
        else:
            new += _numel(shape)
            group = key.rsplit(".", 1)[0].split(".layers.")[0]
            if group not in new_keys:
                new_keys.append(group)
    return LineageRow(component, _class_path(sam1), _class_path(sam2), same, renamed, new, tuple(new_keys),
                      sum(_numel(s) for s in a.values()))


LINEAGE_TYPES = ("vit_b", "hiera_base_plus")  # the builders compared (sam1 registry key, SAM 2 size)
LINEAGE_NAMES = ("SAM ViT-B", "SAM 2.1 Hiera-B+")


@lru_cache(maxsize=1)
def lineage(sam1_type: str = LINEAGE_TYPES[0], sam2_type: str = LINEAGE_TYPES[1]) -> tuple[LineageRow, ...]:
    """SAM 1's and SAM 2.1's prompt encoders, mask decoders and their two-way transformers, compared."""
    from sam_core.sam1.build import sam_model_registry
    from sam_core.sam2.build import HIERA_SIZES, build_sam2_model

    with torch.device("meta"):
        sam1 = sam_model_registry[sam1_type]()
        sam2 = build_sam2_model(HIERA_SIZES[sam2_type])
    return (
        compare("prompt encoder", sam1.prompt_encoder, sam2.sam_prompt_encoder),
        compare("two-way transformer", sam1.mask_decoder.transformer, sam2.sam_mask_decoder.transformer),
        compare("mask decoder (all of it)", sam1.mask_decoder, sam2.sam_mask_decoder),
    )


@lru_cache(maxsize=1)
def sam3_click_lineage(sam2_type: str = LINEAGE_TYPES[1]) -> tuple[LineageRow, ...]:
    """SAM 2.1's prompt encoder and mask decoder against those of SAM 3's click path (its tracker head,
    built with enable_inst_interactivity), on the 'meta' device. LineageRow's sam1_* fields hold SAM 2.1,
    its sam2_* fields SAM 3."""
    from sam_core.sam2.build import HIERA_SIZES, build_sam2_model
    from sam_core.sam3.build import SAM3_CONFIGS, build_sam3_from_config

    with torch.device("meta"):
        sam2 = build_sam2_model(HIERA_SIZES[sam2_type])
        tracker = build_sam3_from_config(SAM3_CONFIGS["sam3"], enable_inst_interactivity=True).tracker
    return (
        compare("prompt encoder", sam2.sam_prompt_encoder, tracker.sam_prompt_encoder),
        compare("mask decoder (all of it)", sam2.sam_mask_decoder, tracker.sam_mask_decoder),
    )


def is_subclass_of_sam1(class_path: str) -> bool:
    """Whether the class at `class_path` is, or derives from, a sam_core.sam1 class."""
    import importlib

    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return any(c.__module__.startswith("sam_core.sam1") for c in cls.__mro__)
