"""Model panel: open a model by path, from the recent list, from a folder, by drag and drop, or the default."""

from __future__ import annotations

from pathlib import Path

import torch
from imgui_bundle import imgui

from stylegan.view import DEFAULT_MODEL

MAX_RECENT = 10


class ModelWidget:
    def __init__(self, viz, models: list[str]):
        self.viz = viz
        self.recent: list[str] = list(viz.settings.get("recent_models", []))
        self.browse_folder = str(Path.cwd())
        self.path_text = ""
        first = models[0] if models else DEFAULT_MODEL
        for model in reversed(models):
            self._remember(model)
        self.open(first)

    @property
    def notice(self) -> str:
        info = self.viz.model_info
        if info.get("random_init"):
            return f"{self.viz.args['model']}: randomly initialised (no trained model loaded); open one in the Model panel"
        return ""

    def open(self, model: str) -> None:
        self.viz.args["model"] = str(model)
        self.viz.args["latent_ws"] = None
        self.viz.args["layer"] = None
        self.path_text = str(model)
        if model != DEFAULT_MODEL:
            self._remember(str(model))

    def _remember(self, model: str) -> None:
        self.recent = [model] + [m for m in self.recent if m != model]
        self.recent = self.recent[:MAX_RECENT]
        self.viz.settings["recent_models"] = self.recent

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, info = self.viz.args, self.viz.model_info
        imgui.push_item_width(-70)
        changed, self.path_text = imgui.input_text(
            "##path", self.path_text, imgui.InputTextFlags_.enter_returns_true
        )
        imgui.pop_item_width()
        imgui.same_line()
        if imgui.button("Open") or changed:
            self.open(self.path_text.strip())
        if imgui.button("Recent..."):
            imgui.open_popup("recent")
        if imgui.begin_popup("recent"):
            for model in self.recent or ["(none yet)"]:
                if imgui.selectable(model, False)[0] and model != "(none yet)":
                    self.open(model)
            imgui.end_popup()
        imgui.same_line()
        if imgui.button("Browse..."):
            imgui.open_popup("browse")
        if imgui.begin_popup("browse"):
            self._browse_menu()
            imgui.end_popup()
        imgui.same_line()
        if imgui.button("Default"):
            self.open(DEFAULT_MODEL)
        if info:
            imgui.text(
                f"{info['architecture']}, {info['resolution']}x{info['resolution']}, num_ws {info['num_ws']}"
            )
            classes = f"{info['c_dim']} classes" if info["c_dim"] else "unconditional"
            imgui.text(f"{classes}, {info['parameters']:,} parameters, on {info['device']}")
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            if imgui.radio_button(device.upper(), args["device"] == device):
                args["device"] = device
            imgui.same_line()
        _, args["fp16"] = imgui.checkbox("fp16 layers (CUDA)", args["fp16"])

    def _browse_menu(self) -> None:
        folder = Path(self.browse_folder)
        imgui.text(str(folder))
        if imgui.selectable("..", False)[0]:
            self.browse_folder = str(folder.parent)
        try:
            entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        except OSError:
            entries = []
        for entry in entries[:500]:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if imgui.selectable(entry.name + "/", False)[0]:
                    self.browse_folder = str(entry)
            elif (
                entry.suffix.lower() in (".pkl", ".pickle", ".safetensors")
                and imgui.selectable(entry.name, False)[0]
            ):
                self.open(str(entry))
