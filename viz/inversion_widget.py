"""Inversion panel: drop an image (or type its path); the projection runs step by step in the renderer and the
reconstruction updates live. When done the result is an ordinary latent, and can be saved as .npz."""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from stylegan.errors import StyleGANError
from stylegan.inversion import save_latent


class InversionWidget:
    def __init__(self, viz):
        self.viz = viz
        self.path = ""
        self.space = "w+"
        self.steps = 300
        self.pti_steps = 0
        self.run = 0
        self.result: dict | None = None  # the last finished inversion
        self.save_path = "inverted.npz"
        self.message = ""

    def start(self, path: str) -> None:
        self.path = str(path)
        self.run += 1
        self.result = None
        self.viz.args["inversion"] = dict(target=self.path, space=self.space, steps=self.steps,
                                          pti_steps=self.pti_steps, seed=0, run=self.run, paused=False)  # fmt: skip

    def stop(self) -> None:
        self.viz.args["inversion"] = None

    def __call__(self, show: bool) -> None:
        args = self.viz.args
        report = self.viz.result.get("inversion")
        if args["inversion"] is not None and report and report.get("done"):
            self.result = report
            args["inversion"] = None
            args["latent_ws"] = report["ws"]
            args["interp_enabled"] = False
            if report.get("tuned_model"):
                args["model"] = report["tuned_model"]
            self.message = f"done: PSNR {report['psnr']:.2f} dB; the result is now the current latent"
        if args["inversion"] is not None and self.viz.result.get("error"):
            args["inversion"] = None  # a bad target: the error shows, nothing keeps retrying
        if not show:
            return
        _, self.path = imgui.input_text("image", self.path)
        spaces = ["w", "w+"]
        _, index = imgui.combo("space##inv", spaces.index(self.space), ["W", "W+"])
        self.space = spaces[index]
        _, self.steps = imgui.input_int("steps", self.steps)
        _, self.pti_steps = imgui.input_int("PTI steps", self.pti_steps)
        self.steps, self.pti_steps = max(self.steps, 1), max(self.pti_steps, 0)
        running = args["inversion"]
        if running is None:
            if imgui.button("Invert") and self.path:
                self.start(self.path)
        else:
            if imgui.button("Resume" if running["paused"] else "Pause"):
                running["paused"] = not running["paused"]
            imgui.same_line()
            if imgui.button("Stop"):
                self.stop()
            if report:
                imgui.progress_bar(report["step"] / max(report["steps"], 1), (-1, 0),
                                   f"{report['phase']} {report['step']}/{report['steps']}")  # fmt: skip
                if report.get("loss") is not None:
                    imgui.text(f"loss {report['loss']:.4f}   PSNR {report['psnr']:.2f} dB")
                for note in report.get("notes", []):
                    imgui.text_wrapped(note)
        if self.message:
            imgui.text_wrapped(self.message)
        if self.result is not None:
            _, self.save_path = imgui.input_text("##save", self.save_path)
            imgui.same_line()
            if imgui.button("Save .npz"):
                try:
                    written = save_latent(Path(self.save_path), self.result["ws"][None], self.result["class_index"],
                                          self.space)  # fmt: skip
                    self.message = f"wrote {written}"
                except (StyleGANError, OSError) as error:
                    self.viz.report_error(str(error))
