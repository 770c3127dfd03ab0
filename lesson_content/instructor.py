"""What an edit of the traced examples changes: derived numbers before and after (Instructor page).

Imports no Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from lesson_content import architecture, prompt_encoding


def derived_values(examples: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Label -> display text of the numbers the pages derive from `examples` (cheap: no model)."""
    click = examples["prompt_click"]
    plan = prompt_encoding.plan_click(click["x"], click["y"], click["image_size"])
    out = {
        "click (x, y) on S": f"({click['x']}, {click['y']}) on {click['image_size']}",
        "p_x = x / S": f"{plan.p_x_float:.5f}",
        "p_y = y / S": f"{plan.p_y_float:.5f}",
        "sin(π p_x)": f"{math.sin(math.pi * plan.p_x_float):.4f}",
        "cos(π p_y)": f"{math.cos(math.pi * plan.p_y_float):.4f}",
    }
    try:
        from lesson_content.focal_trace import focal_trace

        trace = focal_trace(examples["focal_trace"])
        out["focal: hard / easy pixel loss"] = f"{trace.ratio:,.0f}×"
    except Exception as error:  # the loss module is another page's; never break this preview for it
        out["focal: hard / easy pixel loss"] = f"({type(error).__name__})"
    timing = examples["timing_check"]
    once, every = architecture.claimed_totals(timing["clicks"], timing["encoder_ms_claim"], timing["decoder_ms_claim"])
    out["claimed ms, encoder once"] = f"{once:,.0f}"
    out["claimed ms, encoder every click"] = f"{every:,.0f}"
    out["Fourier bands traced / planned"] = f"{examples['fourier']['bands_shown']} / {examples['fourier']['plan_bands']}"
    return out


def preview_rows(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """[{"derived value", "now", "after", "changed"}] for the preview table."""
    before, after = derived_values(old), derived_values(new)
    return [{"derived value": k, "now": before[k], "after": after[k], "changed": "●" if before[k] != after[k] else ""}
            for k in before]
