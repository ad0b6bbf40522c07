"""Style mixing panel: a second (seed, class) and one toggle per w, laid out in rows with each layer's size.
Touching any of its controls turns mixing on."""

from __future__ import annotations

from imgui_bundle import imgui

from stylegan.latent import invert_layers, layer_groups

TOGGLES_PER_ROW = 10


class MixingWidget:
    def __init__(self, viz):
        self.viz = viz
        self._drag_value: bool | None = None  # while click-dragging over toggles: the value being painted

    def w_sizes(self) -> list[str]:
        """The output size of the layer each w drives (w 0: the input; the last ones: the output layer)."""
        info = self.viz.model_info
        num_ws = info.num_ws if info is not None else 0
        sizes = [str(layer.size) for layer in self.viz.result.layers][:num_ws]
        return sizes + [sizes[-1] if sizes else "?"] * (num_ws - len(sizes))

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, info = self.viz.args, self.viz.model_info
        num_ws = info.num_ws if info is not None else 0
        touched = False
        _, args.mix_enabled = imgui.checkbox("Mix in the styles of", args.mix_enabled)
        self.viz.note_item("mix enable")
        imgui.same_line()
        imgui.push_item_width(110)
        changed, seed = imgui.input_int("seed##mix", args.mix_seed)
        if changed:
            args.mix_seed, touched = max(seed, 0), True
        if info is not None and info.c_dim:
            value = -1 if args.mix_class is None else args.mix_class
            changed, value = imgui.input_int("class (-1: the seed's own)##mix", value)
            if changed:
                args.mix_class, touched = (None if value < 0 else min(value, info.c_dim - 1)), True
        imgui.pop_item_width()
        chosen = set(args.mix_layers)
        for name, indices in layer_groups(num_ws).items() if num_ws else []:
            if imgui.button(name):
                chosen, touched = set(indices), True
            imgui.same_line()
        if imgui.button("invert"):
            chosen, touched = set(invert_layers(sorted(chosen), num_ws)), True
        imgui.same_line()
        if imgui.button("none"):
            chosen = set()
        sizes = self.w_sizes()
        if not imgui.is_mouse_down(imgui.MouseButton_.left):
            self._drag_value = None
        # While the button first pressed is active, imgui reports no other item as hovered; painting needs
        # to know which toggle the mouse is over anyway.
        over = imgui.HoveredFlags_.allow_when_blocked_by_active_item
        for index in range(num_ws):
            if index % TOGGLES_PER_ROW:
                imgui.same_line()
            on = index in chosen
            imgui.push_style_color(imgui.Col_.button, (0.2, 0.5, 0.9, 1) if on else (0.25, 0.25, 0.28, 1))
            imgui.button(f"{index}##w{index}", (32, 0))
            imgui.pop_style_color()
            self.viz.note_item(f"mix w{index}")
            if imgui.is_item_hovered(over):
                if self._drag_value is None:
                    imgui.set_tooltip(f"w {index}: layer size {sizes[index]}")
                if imgui.is_mouse_clicked(imgui.MouseButton_.left):
                    self._drag_value = not on  # click toggles; dragging paints the same value over a range
                if self._drag_value is not None and imgui.is_mouse_down(imgui.MouseButton_.left):
                    chosen.add(index) if self._drag_value else chosen.discard(index)
                    touched = True
        args.mix_layers = sorted(chosen)
        if touched and args.mix_layers:
            args.mix_enabled = True
