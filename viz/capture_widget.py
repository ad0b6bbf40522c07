"""Capture panel: save the image at native resolution, a screenshot of the window, and videos of the
interpolation A -> B or of the keyframe path. A video is a renderer job: its own copy of the generator, set up
as the view was when the export began (truncation, noise, fp16, input transform), in a thread of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from gui_utils.layout import fit_label
from stylegan.errors import StyleGANError
from stylegan.images import save_image
from stylegan.video import VideoWriter
from stylegan.view import InterpolationEnd
from viz.renderer import VideoExport
from viz.settings import data_folder


class CaptureWidget:
    def __init__(self, viz):
        self.viz = viz
        self.folder = str(data_folder() / "captures")
        self.frames_per_transition = 60
        self.fps = 30
        self.loop = True
        self.message = ""
        self.screenshot_pending = False
        self.session_path = str(data_folder() / "session.json")
        self.export: VideoExport | None = None
        self.recorder: VideoWriter | None = None  # records every new image while running

    @property
    def animating(self) -> bool:
        return self.export is not None  # the progress bar moves

    def next_path(self, stem: str, suffix: str) -> Path:
        folder = Path(self.folder)
        index = 0
        while (folder / f"{stem}{index:05d}{suffix}").exists():
            index += 1
        return folder / f"{stem}{index:05d}{suffix}"

    def save_image(self) -> Path | None:
        image = self.viz.result.image
        if image is None:
            return None
        return self._write(lambda path: save_image(image, path), "image", ".png")

    def save_screenshot(self, pixels: np.ndarray) -> Path | None:
        return self._write(lambda path: save_image(pixels, path), "screen", ".png")

    def _write(self, write, stem: str, suffix: str) -> Path | None:
        try:
            path = write(self.next_path(stem, suffix))
        except (StyleGANError, OSError) as error:
            self.viz.report_error(str(error))
            return None
        self.message = f"wrote {path}"
        return path

    def start_recording(self) -> None:
        """Record the running view (animations, drags) as a video: each new image becomes a frame."""
        try:
            self.recorder = VideoWriter(self.next_path("recording", ".mp4"), fps=self.fps).__enter__()
        except (StyleGANError, OSError) as error:
            self.viz.report_error(str(error))
            self.recorder = None

    def record(self, image: np.ndarray) -> None:
        if self.recorder is not None:
            self.recorder.write(image)

    def stop_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        try:
            recorder.__exit__(None, None, None)
            self.message = f"wrote {recorder.path} ({recorder.frames_written} frames)"
        except (StyleGANError, OSError, ValueError) as error:
            self.viz.report_error(str(error))

    def export_video(self, keyframes: list[InterpolationEnd]) -> VideoExport | None:
        """Start the video of the path through `keyframes` with the view's settings."""
        try:
            self.export = self.viz.renderer.renderer.export_video(
                self.viz.args, keyframes, self.next_path("video", ".mp4"), self.frames_per_transition,
                self.fps, self.loop,
            )  # fmt: skip
        except StyleGANError as error:
            self.viz.report_error(str(error))
            return None
        self.message = ""
        return self.export

    def cancel_export(self) -> None:
        if self.export is not None:
            self.export.cancel()
            self.export.join(timeout=10)

    def __call__(self, show: bool) -> None:
        export = self.export
        if export is not None and export.finished:
            self.message = export.message
            if export.error:
                self.message = export.error
                self.viz.report_error(export.error)
            self.export = None
        if not show:
            return
        fit_label("folder")
        _, self.folder = imgui.input_text("folder", self.folder)
        if imgui.button("Save image"):
            self.save_image()
        imgui.same_line()
        if imgui.button("Save screenshot"):
            self.screenshot_pending = True
        fit_label("frames per transition")
        _, self.frames_per_transition = imgui.input_int("frames per transition", self.frames_per_transition)
        self.frames_per_transition = max(self.frames_per_transition, 1)
        fit_label("fps")
        _, self.fps = imgui.input_int("fps", self.fps)
        self.fps = max(self.fps, 1)
        _, self.loop = imgui.checkbox("Loop", self.loop)
        keyframes = self.viz.interpolation_widget.keyframes
        if self.export is None:
            if imgui.button("Video A -> B"):
                self.export_video([self.viz.args.interp_a, self.viz.args.interp_b])
            self.viz.note_item("video a-b")
            imgui.same_line()
            if imgui.button(f"Video of the {len(keyframes)} keyframes") and len(keyframes) >= 2:
                self.export_video(keyframes)
        else:
            imgui.progress_bar(self.export.done / self.export.total, (-90, 0),
                               f"{self.export.done}/{self.export.total}")  # fmt: skip
            imgui.same_line()
            if imgui.button("Cancel"):
                self.export.cancel()
            self.viz.note_item("video cancel")
        if self.recorder is None:
            if imgui.button("Record the running view"):
                self.start_recording()
        else:
            if imgui.button(f"Stop recording ({self.recorder.frames_written} frames)"):
                self.stop_recording()
        _, self.session_path = imgui.input_text("session", self.session_path)
        if imgui.button("Save session"):
            written = self.viz.save_session(self.session_path)
            if written:
                self.message = f"wrote {written}"
        imgui.same_line()
        if imgui.button("Load session") and self.viz.load_session(self.session_path):
            self.message = f"loaded {self.session_path}"
        imgui.same_line()
        imgui.text_disabled("undo Ctrl+Z, redo Ctrl+Y")
        if self.message:
            imgui.text_wrapped(self.message)
