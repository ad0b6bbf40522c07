"""Sizing helpers, so that a control and its label fit the panel instead of running past its edge."""

from __future__ import annotations

from imgui_bundle import imgui


def as_label(text: str, key: str | int) -> str:
    """An item label that shows `text` (a file or class name, not ours to choose) and is identified by `key`.
    Dear ImGui reads "##" in a label as the start of a hidden ID (and "###" as an ID override), so `text` has
    its "##" broken up, and two items of the same text stay two items."""
    return f"{text.replace('##', '# #')}##{key}"


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


ERROR_TEXT = (1.0, 0.45, 0.4, 1.0)  # the colour every panel shows its errors in


def error_text(message: str) -> None:
    """An error, in the error colour, wrapped to the panel (messages often name long paths)."""
    imgui.push_style_color(imgui.Col_.text, ERROR_TEXT)
    imgui.text_wrapped(message)
    imgui.pop_style_color()


def path_field(label: str, text: str, button: str = "Open", after_field=None) -> tuple[str, bool]:
    """A path field filling the row with a button after it: (the text, whether Enter or the button was hit).
    `after_field()`, when given, runs right after the field is drawn (to note where it is)."""
    imgui.push_item_width(-70)
    entered, text = imgui.input_text(label, text, imgui.InputTextFlags_.enter_returns_true)
    if after_field is not None:
        after_field()
    imgui.pop_item_width()
    imgui.same_line()
    return text, imgui.button(button) or entered
