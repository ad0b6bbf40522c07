"""Class panel: index slider and field, search by name, random class, animation through classes."""

from __future__ import annotations

import time

import numpy as np
from imgui_bundle import imgui

from gui_utils.layout import as_label, width_leaving

MAX_MATCHES = 12


class ClassWidget:
    def __init__(self, viz):
        self.viz = viz
        self.search = ""
        self.animate = False
        self.speed = 1.0  # classes per second
        self._last = time.perf_counter()
        self._position = 0.0

    @property
    def hidden(self) -> bool:
        info = self.viz.model_info
        return info is None or not info.c_dim

    @property
    def animating(self) -> bool:
        return self.animate and not self.hidden

    def names(self) -> list[str] | None:
        info = self.viz.model_info
        return info.class_names if info is not None else None

    def __call__(self, show: bool) -> None:
        info = self.viz.model_info
        c_dim = info.c_dim if info is not None else 0
        args = self.viz.args
        if self.animate and c_dim:
            now = time.perf_counter()
            self._position = (self._position + (now - self._last) * self.speed) % c_dim
            self._last = now
            args.class_index = int(self._position)
        if not show or not c_dim:
            return
        seed_class = args.class_index is None
        changed, seed_class = imgui.checkbox("Each seed's own class", seed_class)
        if changed:
            args.class_index = None if seed_class else 0
        if args.class_index is not None:
            imgui.set_next_item_width(width_leaving("Random", items=1, item_width=90))
            changed, value = imgui.slider_int("##class", args.class_index, 0, c_dim - 1)
            if changed:
                args.class_index = value
            imgui.same_line()
            imgui.push_item_width(90)
            changed, value = imgui.input_int("##class_field", args.class_index)
            imgui.pop_item_width()
            if changed:
                args.class_index = min(max(value, 0), c_dim - 1)
            imgui.same_line()
            if imgui.button("Random"):
                args.class_index = int(np.random.randint(c_dim))
        names = self.names()
        if names:
            if args.class_index is not None:
                imgui.text(f"{args.class_index}: {names[args.class_index]}")
            _, self.search = imgui.input_text("Search", self.search)
            self.viz.note_item("class search")
            if self.search:
                matches = [i for i, name in enumerate(names) if self.search.lower() in name.lower()]
                for index in matches[:MAX_MATCHES]:
                    if imgui.selectable(as_label(f"{index}: {names[index]}", f"class{index}"), False)[0]:
                        args.class_index = index
                        self.search = ""
                    self.viz.note_item(f"class match {index}")
                if not matches:
                    imgui.text_disabled("no class has that in its name")
        changed, self.animate = imgui.checkbox("Animate##class", self.animate)
        if changed:
            self._last, self._position = time.perf_counter(), float(args.class_index or 0)
        imgui.same_line()
        imgui.push_item_width(150)
        _, self.speed = imgui.slider_float("classes/s", self.speed, 0.1, 20.0)
        imgui.pop_item_width()
