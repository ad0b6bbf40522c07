"""Inversion panel: drop an image (or type its path); the projection runs step by step in the renderer and the
reconstruction updates live. When done the result is an ordinary latent, and can be saved as .npz. What went
wrong stays written here until the next run."""

from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from gui_utils.layout import error_text
from stylegan.errors import StyleGANError
from stylegan.inversion import save_latent
from stylegan.view import InversionJob
from viz.settings import data_folder

SPACES = ["w", "w+"]


class InversionWidget:
    def __init__(self, viz):
        self.viz = viz
        self.path = ""
        self.space = "w+"
        self.steps = 300
        self.pti_steps = 0
        self.run = 0
        self.result = None  # the last finished inversion's report
        self.save_path = str(data_folder() / "inverted.npz")
        self.message = ""
        self.error = ""

    @property
    def animating(self) -> bool:
        return self.viz.args.inversion is not None

    def start(self, path: str) -> None:
        path = str(path).strip()
        if not path:
            self.error = "give the path of an image to invert (or drop an image on the window)"
            return
        self.path = path
        self.run += 1
        self.result = None
        self.error = self.message = ""
        self.viz.args.inversion = InversionJob(target=path, space=self.space, steps=self.steps,
                                               pti_steps=self.pti_steps, seed=0, run=self.run)  # fmt: skip

    def stop(self) -> None:
        self.viz.args.inversion = None

    def _follow(self) -> None:
        """Take the renderer's answer to the running job: done, failed, or still going."""
        args, result = self.viz.args, self.viz.result
        job = args.inversion
        answered = result.args is not None and result.args.inversion is not None
        if job is None or not answered or result.args.inversion.restart_key() != job.restart_key():
            return
        report = result.inversion
        if result.error:
            self.error = f"inversion failed: {result.error}"
            args.inversion = None  # a bad target: nothing keeps retrying
        elif report is not None and report.done:
            self.result = report
            args.inversion = None
            args.latent_ws = report.ws
            args.interp_enabled = False
            if report.tuned_model:
                args.model = report.tuned_model
            self.message = f"done: PSNR {report.psnr:.2f} dB; the result is now the current latent"

    def __call__(self, show: bool) -> None:
        self._follow()
        if not show:
            return
        args, report = self.viz.args, self.viz.result.inversion
        _, self.path = imgui.input_text("image", self.path)
        _, index = imgui.combo("space##inv", SPACES.index(self.space), ["W", "W+"])
        self.space = SPACES[index]
        _, self.steps = imgui.input_int("steps", self.steps)
        _, self.pti_steps = imgui.input_int("PTI steps", self.pti_steps)
        self.steps, self.pti_steps = max(self.steps, 1), max(self.pti_steps, 0)
        running = args.inversion
        if running is None:
            if imgui.button("Invert"):
                self.start(self.path)
            self.viz.note_item("invert")
        else:
            if imgui.button("Resume" if running.paused else "Pause"):
                running.paused = not running.paused
            imgui.same_line()
            if imgui.button("Stop"):
                self.stop()
            if report is not None:
                imgui.progress_bar(report.step / max(report.steps, 1), (-1, 0),
                                   f"{report.phase} {report.step}/{report.steps}")  # fmt: skip
                if report.loss is not None:
                    imgui.text(f"loss {report.loss:.4f}   PSNR {report.psnr:.2f} dB")
                for note in report.notes:
                    imgui.text_wrapped(note)
        if self.error:
            error_text(self.error)
        if self.message:
            imgui.text_wrapped(self.message)
        if self.result is not None:
            _, self.save_path = imgui.input_text("##save", self.save_path)
            imgui.same_line()
            if imgui.button("Save .npz"):
                try:
                    written = save_latent(Path(self.save_path), self.result.ws[None], self.result.class_index,
                                          self.space)  # fmt: skip
                    self.message = f"wrote {written}"
                except (StyleGANError, OSError) as error:
                    self.error = str(error)
