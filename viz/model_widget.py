"""Model panel: open a model by path, from the recent list, from a folder, by drag and drop, or the default."""

from __future__ import annotations

from pathlib import Path

import torch
from imgui_bundle import imgui

from gui_utils.layout import as_label, error_text, path_field
from stylegan.devices import cpu_has_bfloat16
from stylegan.io.loading import MODEL_SUFFIXES
from stylegan.view import DEFAULT_MODEL

MAX_RECENT = 10
BF16_TIP = "bfloat16 autocast on the CPU: a quicker, slightly noisier preview (about 50 dB PSNR)"
NO_BF16_TIP = "this CPU has no native bfloat16 (AVX512-BF16 or AMX): emulated, the preview would be slower"


class ModelWidget:
    def __init__(self, viz, models: list[str]):
        self.viz = viz
        self.recent: list[str] = list(viz.settings.get("recent_models", []))
        self.offered = [str(model) for model in models[1:]]  # named on the command line, not opened yet
        self.browse_folder = str(Path.cwd())
        self.path_text = ""
        self.opening: str | None = None  # asked for, not yet answered by the renderer
        self.error = ""  # why the last model asked for did not open
        self.native_bf16 = cpu_has_bfloat16()
        self.open(models[0] if models else DEFAULT_MODEL)

    @property
    def notice(self) -> str:
        info = self.viz.model_info
        if info is not None and info.random_init:
            return f"{self.viz.args.model}: randomly initialised (no trained model loaded); open one in the Model panel"
        return ""

    def open(self, model: str) -> None:
        model = str(model)
        args = self.viz.args
        args.model, args.latent_ws, args.layer = model, None, None
        self.path_text = model
        self.opening = model

    def take_result(self, result) -> None:
        """The renderer's answer: a model that opened goes to the recent list; one that failed says why."""
        if result.args is None or result.args.model != self.opening:
            return
        if result.model_failed:
            self.error = result.error or "the model did not open"
        elif result.model is not None:
            self.error = ""
            self._remember(self.opening)
        else:
            return  # another error (a bad class, say): the model's fate is not known yet
        self.opening = None

    def _remember(self, model: str) -> None:
        if model == DEFAULT_MODEL or model.startswith(
            "pti:"
        ):  # the Default button; tuned ones die with the app
            return
        self.recent = ([model] + [m for m in self.recent if m != model])[:MAX_RECENT]
        self.offered = [m for m in self.offered if m != model]
        self.viz.settings["recent_models"] = self.recent

    def __call__(self, show: bool) -> None:
        if not show:
            return
        args, info = self.viz.args, self.viz.model_info
        self.path_text, submitted = path_field(
            "##path", self.path_text, after_field=lambda: self.viz.note_item("model path")
        )
        if submitted:
            self.open(self.path_text.strip())
        if imgui.button("Recent..."):
            imgui.open_popup("recent")
        if imgui.begin_popup("recent"):
            for index, model in enumerate(self.recent + self.offered or ["(none yet)"]):
                if imgui.selectable(as_label(model, f"recent{index}"), False)[0] and model != "(none yet)":
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
        if self.error:
            error_text(self.error)
        elif info is not None:
            imgui.text(f"{info.architecture}, {info.resolution}x{info.resolution}, num_ws {info.num_ws}")
            classes = f"{info.c_dim} classes" if info.c_dim else "unconditional"
            imgui.text(f"{classes}, {info.parameters:,} parameters, on {info.device}")
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        for device in devices:
            if imgui.radio_button(device.upper(), args.device == device):
                args.device = device
            imgui.same_line()
        _, args.fp16 = imgui.checkbox("fp16 layers (CUDA)", args.fp16)
        # Without native bf16 it can still be turned off (a session from another machine), never on.
        imgui.begin_disabled(not self.native_bf16 and not args.preview_bf16)
        _, args.preview_bf16 = imgui.checkbox("bf16 preview (CPU)", args.preview_bf16)
        imgui.end_disabled()
        self.viz.note_item("bf16 preview")
        if imgui.is_item_hovered(imgui.HoveredFlags_.allow_when_disabled):
            imgui.set_tooltip(BF16_TIP if self.native_bf16 else NO_BF16_TIP)

    def _browse_menu(self) -> None:
        folder = Path(self.browse_folder)
        imgui.text(str(folder))
        if imgui.selectable("..", False)[0]:
            self.browse_folder = str(folder.parent)
        try:
            entries = sorted(folder.iterdir(), key=lambda p: (not p.is_dir(), p.name.lower()))
        except OSError:
            entries = []
        for index, entry in enumerate(entries[:500]):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                if imgui.selectable(as_label(entry.name + "/", f"entry{index}"), False)[0]:
                    self.browse_folder = str(entry)
            elif (
                entry.suffix.lower() in MODEL_SUFFIXES
                and imgui.selectable(as_label(entry.name, f"entry{index}"), False)[0]
            ):
                self.open(str(entry))
