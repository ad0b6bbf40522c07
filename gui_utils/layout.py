"""Sizing helpers, so that a control and its label fit the panel instead of running past its edge."""

from __future__ import annotations

from imgui_bundle import imgui


def fit_label(label: str) -> None:
    """Make the next item as wide as the panel allows with its label still shown in full."""
    visible = label.split("##")[0]
    style = imgui.get_style()
    imgui.set_next_item_width(-(imgui.calc_text_size(visible).x + style.item_inner_spacing.x) - 1)


def width_leaving(*texts: str, items: int = 0, item_width: float = 0.0) -> float:
    """The width left on this row after buttons with these texts and `items` controls of `item_width`."""
    style = imgui.get_style()
    taken = sum(imgui.calc_text_size(text).x + 2 * style.frame_padding.x for text in texts)
    taken += items * item_width + (len(texts) + items) * style.item_spacing.x
    return max(imgui.get_content_region_avail().x - taken, 40.0)
