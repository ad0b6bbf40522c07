"""Capture panel: save the image at native resolution, a screenshot of the window, and videos of the
interpolation A -> B or of the keyframe path, rendered in the background through the command line's video code."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from stylegan.errors import StyleGANError
from stylegan.images import save_image
from stylegan.latent import Endpoint, keyframe_path
from stylegan.video import VideoWriter, path_frames


class CaptureWidget:
    def __init__(self, viz):
        self.viz = viz
        self.folder = str(Path.cwd() / "captures")
        self.frames_per_transition = 60
        self.fps = 30
        self.loop = True
        self.message = ""
        self.screenshot_pending = False
        self.session_path = "session.json"
        self._export: _VideoExport | None = None
        self.recorder: VideoWriter | None = None  # records every new image while running

    def next_path(self, stem: str, suffix: str) -> Path:
        folder = Path(self.folder)
        index = 0
        while (folder / f"{stem}{index:05d}{suffix}").exists():
            index += 1
        return folder / f"{stem}{index:05d}{suffix}"

    def save_image(self) -> Path | None:
        image = self.viz.result.get("image")
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

    def export_video(self, keyframes: list[dict]) -> None:
        """Render a video of the path through `keyframes` (endpoint dicts) with the current truncation."""
        args = self.viz.args
        ends = [
            Endpoint(w=np.asarray(k["ws"]))
            if k.get("ws") is not None
            else Endpoint(seed=k["seed"], class_index=k.get("class_index"))
            for k in keyframes
        ]
        path = keyframe_path(
            len(ends), self.frames_per_transition, "cubic" if len(ends) > 2 else "linear", self.loop
        )
        space = args["interp_space"] if all(end.w is None for end in ends) else "w"
        try:
            G = self.viz.renderer.renderer.network(args["model"], args["device"])
            writer = VideoWriter(self.next_path("video", ".mp4"), fps=self.fps)
        except StyleGANError as error:
            self.viz.report_error(str(error))
            return
        frames = path_frames(G, [ends], path, space=space, psi=args["psi"], cutoff=args["cutoff"])
        self._export = _VideoExport(writer, frames, path.num_frames)

    def __call__(self, show: bool) -> None:
        export = self._export
        if export is not None and export.finished:
            self.message = export.message
            if export.error:
                self.viz.report_error(export.error)
            self._export = None
        if not show:
            return
        _, self.folder = imgui.input_text("folder", self.folder)
        if imgui.button("Save image"):
            self.save_image()
        imgui.same_line()
        if imgui.button("Save screenshot"):
            self.screenshot_pending = True
        _, self.frames_per_transition = imgui.input_int("frames per transition", self.frames_per_transition)
        self.frames_per_transition = max(self.frames_per_transition, 1)
        _, self.fps = imgui.input_int("fps", self.fps)
        self.fps = max(self.fps, 1)
        _, self.loop = imgui.checkbox("Loop", self.loop)
        interpolation = self.viz.widget("Interpolation")
        if self._export is None:
            if imgui.button("Video A -> B"):
                self.export_video([self.viz.args["interp_a"], self.viz.args["interp_b"]])
            imgui.same_line()
            if (
                imgui.button(f"Video of the {len(interpolation.keyframes)} keyframes")
                and len(interpolation.keyframes) >= 2
            ):
                self.export_video(interpolation.keyframes)
        else:
            imgui.progress_bar(
                self._export.done / self._export.total, (-90, 0), f"{self._export.done}/{self._export.total}"
            )
            imgui.same_line()
            if imgui.button("Cancel"):
                self._export.cancel()
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


class _VideoExport:
    """Writes frames in a background thread; cancelling leaves no file."""

    def __init__(self, writer: VideoWriter, frames, total: int):
        self.writer, self.frames, self.total = writer, frames, total
        self.done = 0
        self.finished = False
        self.error = ""
        self.message = ""
        self._cancel = threading.Event()
        threading.Thread(target=self._run, name="video-export", daemon=True).start()

    def cancel(self) -> None:
        self._cancel.set()

    def _run(self) -> None:
        try:
            with self.writer:
                for frame in self.frames:
                    if self._cancel.is_set():
                        raise _CancelledError
                    self.writer.write(frame)
                    self.done += 1
            self.message = f"wrote {self.writer.path} ({self.total} frames)"
        except _CancelledError:
            self.message = "video cancelled; nothing written"
        except Exception as error:  # shown in the window; the app keeps running
            self.error = f"video export failed: {error}"
        self.finished = True


class _CancelledError(Exception):
    pass
