"""The visualizer's renderer: a `ViewArgs` in, a `RenderResult` out. No OpenGL here.

The picture itself is `stylegan.view.render_view`, the same function `stylegan generate --session` calls; this
adds what a live window needs around it: loaded networks and the ws of seeds cached (so a change of psi or of
the mixed layers does not map seeds again), inversions advanced a few steps per frame, generators tuned by
PTI, and video exports on their own copy of the generator. Errors go into the result (`error`), never out of
`render`.
"""

from __future__ import annotations

import collections
import copy
import threading
import time
import traceback
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

import stylegan
from stylegan.devices import checked_device
from stylegan.errors import StyleGANError
from stylegan.images import to_uint8
from stylegan.latent import Endpoint, class_names, keyframe_path
from stylegan.networks.summary import parameter_count
from stylegan.view import InterpolationEnd, InversionJob, ViewArgs, render_view
from stylegan.view import seed_ws as uncached_seed_ws


@dataclass(frozen=True)
class ModelInfo:
    """What the panels need to know about the loaded generator."""

    architecture: str
    resolution: int
    num_ws: int
    c_dim: int
    z_dim: int
    w_dim: int
    parameters: int
    has_noise: bool
    alias_free: bool
    random_init: bool
    class_names: list[str] | None
    device: str


@dataclass(frozen=True)
class LayerInfo:
    name: str
    size: int  # output size in pixels
    channels: int
    fp16: bool  # runs in float16 in this view (fp16 layers with the fp16 setting, on CUDA only)


@dataclass
class InversionReport:
    """Where a running inversion stands after this frame's steps."""

    phase: str  # 'inverting' or 'tuning'
    step: int
    steps: int
    loss: float | None
    psnr: float | None
    done: bool
    image: np.ndarray  # the current reconstruction, uint8 [H, W, 3]
    target: np.ndarray
    ws: np.ndarray  # the best ws so far [num_ws, w_dim]
    class_index: int | None
    notes: list[str]
    tuned_model: str | None = None  # with PTI, once done: the tuned generator's name for `ViewArgs.model`


@dataclass
class RenderResult:
    """One frame's answer. `image` is None when nothing could be drawn; `error` says why."""

    args: ViewArgs | None = None  # what was rendered
    image: np.ndarray | None = None  # uint8 [H, W, 3]
    ws: np.ndarray | None = None  # [num_ws, w_dim]
    model: ModelInfo | None = None
    layers: list[LayerInfo] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    model_failed: bool = False  # the error is that args.model could not be opened
    inversion: InversionReport | None = None
    render_seconds: float = 0.0
    synthesis_seconds: float = 0.0
    layer_shape: list[int] | None = None  # with args.layer: the activations' [C, H, W] and dtype
    layer_dtype: str | None = None


class Renderer:
    """Turns views into images. Keeps the networks, seed ws and a running inversion between calls."""

    def __init__(self, ws_cache_size: int = 4096):
        self._networks: dict[tuple[str, str], stylegan.Generator] = {}
        self._facts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # G -> (model info, layer rows)
        self._ws_cache: collections.OrderedDict = collections.OrderedDict()
        self._ws_cache_size = ws_cache_size
        # Held while a frame renders: the frame rewrites G's input transform, so a job copying G waits for it.
        self._render_lock = threading.RLock()
        self._inversion: _InversionRun | None = None
        self._registered: dict[str, stylegan.Generator] = {}  # generators made here (PTI), by name

    def render(self, args: ViewArgs) -> RenderResult:
        """One frame of a view."""
        if not isinstance(args, ViewArgs):
            raise TypeError(f"render takes a ViewArgs, not {type(args).__name__}")
        result = RenderResult(args=args)
        start = time.perf_counter()
        try:
            with self._render_lock, torch.no_grad():
                self._render(args, result)
        except StyleGANError as error:
            result.error = str(error)
        except Exception as error:  # a renderer must keep the window alive; the panel shows what went wrong
            result.error = f"{type(error).__name__}: {error}"
            result.traceback = traceback.format_exc()
        result.render_seconds = time.perf_counter() - start
        return result

    # -- models -------------------------------------------------------------------------------------------------

    def network(self, model: str, device: str) -> stylegan.Generator:
        with self._render_lock:
            key = (str(model), str(device))
            if key not in self._networks:
                checked_device(device)
                self._networks.clear()  # one model at a time: big generators do not fit twice
                self._ws_cache.clear()
                self._release_tuned(keep=model)
                if model in self._registered:
                    self._networks[key] = self._registered[model].to(device)
                else:
                    self._networks[key] = stylegan.load(model, device=device).eval().requires_grad_(False)
            return self._networks[key]

    def private_copy(self, model: str, device: str) -> stylegan.Generator:
        """A copy of the network that no frame touches (taken between frames), for a job of its own."""
        with self._render_lock:
            return copy.deepcopy(self.network(model, device))

    def facts(self, G: stylegan.Generator) -> tuple[ModelInfo, list]:
        """(model info, layer rows) of G, worked out once per network rather than every frame."""
        if G not in self._facts:
            self._facts[G] = (self.model_info(G), G.layers())
        return self._facts[G]

    def register(self, name: str, G: stylegan.Generator) -> None:
        """Make a generator built here (a PTI result) loadable by `name` as the `model` argument."""
        self._registered.pop(name, None)
        self._registered[name] = G  # the newest last

    def _release_tuned(self, keep: str) -> None:
        """Forget tuned generators that are no longer shown: all but `keep` and the newest one (which the
        inversion panel is about to show)."""
        newest = next(reversed(self._registered), None)
        self._registered = {name: G for name, G in self._registered.items() if name in (keep, newest)}

    @staticmethod
    def model_info(G: stylegan.Generator) -> ModelInfo:
        return ModelInfo(
            architecture=G.architecture,
            resolution=G.img_resolution,
            num_ws=G.num_ws,
            c_dim=G.c_dim,
            z_dim=G.z_dim,
            w_dim=G.w_dim,
            parameters=parameter_count(G),
            has_noise=G.has_noise,
            alias_free=G.is_alias_free,
            random_init=bool(G.metadata.get("random_init")),
            class_names=class_names(G),
            device=str(G.device),
        )

    # -- latents ------------------------------------------------------------------------------------------------

    def seed_ws(self, G: stylegan.Generator, seed: int, class_index: int | None) -> torch.Tensor:
        """ws [num_ws, w_dim] of a seed at psi 1, cached."""
        key = (id(G), seed, class_index)
        if key not in self._ws_cache:
            self._ws_cache[key] = uncached_seed_ws(G, seed, class_index)
            while len(self._ws_cache) > self._ws_cache_size:
                self._ws_cache.popitem(last=False)
        self._ws_cache.move_to_end(key)
        return self._ws_cache[key]

    # -- one frame ----------------------------------------------------------------------------------------------

    def _render(self, args: ViewArgs, result: RenderResult) -> None:
        try:
            G = self.network(args.model, args.device)
        except Exception:
            result.model_failed = True
            raise
        result.model, rows = self.facts(G)
        runs_fp16 = args.fp16 and G.device.type == "cuda"  # the layers ignore fp16 elsewhere
        result.layers = [LayerInfo(r.name, r.size, r.channels, r.fp16 and runs_fp16) for r in rows]
        if args.inversion is not None:
            report = self._step_inversion(G, args.inversion)
            result.inversion = report
            if not report.done:  # show the target and the current reconstruction side by side
                result.image = np.concatenate([report.target, report.image], axis=1)
                return
        view = render_view(G, args, self.seed_ws)
        result.image, result.ws = view.image, view.ws
        result.synthesis_seconds = view.synthesis_seconds
        result.layer_shape, result.layer_dtype = view.layer_shape, view.layer_dtype

    # -- inversion ----------------------------------------------------------------------------------------------

    def _step_inversion(self, G, job: InversionJob) -> InversionReport:
        run = self._inversion
        if run is None or run.job.restart_key() != job.restart_key() or run.G is not G:
            self._inversion = run = _InversionRun(G, job)
        report, tuned = run.advance(paused=job.paused)
        if tuned is not None:
            report.tuned_model = f"pti:{Path(job.target).name}:{job.run}"
            self.register(report.tuned_model, tuned)
        return report

    # -- video export -------------------------------------------------------------------------------------------

    def export_video(self, args: ViewArgs, keyframes: list[InterpolationEnd], path: str | Path,
                     frames_per_transition: int = 60, fps: float = 30, loop: bool = True) -> VideoExport:  # fmt: skip
        """Start writing the video of a path through `keyframes` with the view's settings (truncation, noise,
        fp16, input transform) in a thread of its own, on its own copy of the generator, so the view can go on
        changing (and animating) while it runs."""
        return VideoExport(self, args, keyframes, Path(path), frames_per_transition, fps, loop)


class VideoExport:
    """A video export in a background thread: `done` of `total` frames; `cancel()` stops it and leaves no file."""

    def __init__(self, renderer: Renderer, args: ViewArgs, keyframes: list[InterpolationEnd], path: Path,
                 frames_per_transition: int, fps: float, loop: bool):  # fmt: skip
        from stylegan.video import VideoWriter

        if len(keyframes) < 2:
            raise StyleGANError("a video needs at least two keyframes")
        self.args = copy.deepcopy(args).validate()  # the view as it was when the export began
        self.keyframes = copy.deepcopy(keyframes)
        easing = "cubic" if len(keyframes) > 2 else "linear"
        self.path = keyframe_path(len(keyframes), frames_per_transition, easing, loop)
        self.writer = VideoWriter(path, fps=fps)  # checks the suffix and fps now, before the thread starts
        self.total = self.path.num_frames
        self.done = 0
        self.finished = False
        self.cancelled = False
        self.error = ""
        self.message = ""
        self._renderer = renderer
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-export", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def frames(self):
        """The frames, rendered on a private copy of the generator set up exactly as the view."""
        from stylegan.video import path_frames

        args = self.args
        G = self._renderer.private_copy(args.model, args.device)
        if G.is_alias_free:
            G.set_input_transform(args.rotate, args.translate_x, args.translate_y)
        ends = [_endpoint(G, end) for end in self.keyframes]
        space = args.interp_space if all(end.w is None for end in ends) else "w"
        return path_frames(G, [ends], self.path, space=space, psi=args.psi, cutoff=args.cutoff,
                           noise_mode=args.noise_mode, noise_seed=args.noise_seed,
                           force_fp32=not args.fp16)  # fmt: skip

    def _run(self) -> None:
        try:
            with self.writer:
                for frame in self.frames():
                    if self._cancel.is_set():
                        raise _CancelledError
                    self.writer.write(frame)
                    self.done += 1
            self.message = f"wrote {self.writer.path} ({self.total} frames)"
        except _CancelledError:
            self.cancelled = True
            self.message = "video cancelled; nothing written"
        except StyleGANError as error:
            self.error = f"video export failed: {error}"
        except Exception as error:  # shown in the window; the app keeps running
            self.error = f"video export failed: {type(error).__name__}: {error}"
        self.finished = True


class _CancelledError(Exception):
    pass


def _endpoint(G, end: InterpolationEnd) -> Endpoint:
    if end.ws is not None:
        return Endpoint(w=torch.as_tensor(np.asarray(end.ws, dtype=np.float32), device=G.device))
    return Endpoint(seed=end.seed, class_index=end.class_index)


class _InversionRun:
    """A projection (then optionally PTI) advanced a little at each frame."""

    STEP_BUDGET_SECONDS = 0.05  # steps per frame: as many as fit, at least one

    def __init__(self, G, job: InversionJob):
        from stylegan.inversion import Projector, load_target, resolve_start_class
        from stylegan.perceptual import ReconstructionLoss, load_lpips

        if not job.target:
            raise StyleGANError("inversion: give the path of an image to invert")
        self.G, self.job = G, job
        self.target = load_target(Path(job.target), G.img_resolution, G.img_channels).to(G.device)
        lpips_model, self.loss_note = load_lpips(G.device)
        self.loss = ReconstructionLoss(lpips_model)
        self.class_index, self.class_note = resolve_start_class(G, job.class_spec, self.target, self.loss)
        with torch.enable_grad():
            self.projector = Projector(
                G, self.target, self.loss, self.class_index, job.space, job.steps, job.seed
            )
        self.tuner = None
        self.last = None

    def advance(self, paused: bool) -> tuple[InversionReport, stylegan.Generator | None]:
        """(the report, and with PTI once it is done the tuned generator)."""
        from stylegan.inversion import PivotalTuner

        deadline = time.perf_counter() + self.STEP_BUDGET_SECONDS
        with torch.enable_grad():
            while not paused and not self.finished:
                if self.projector.done and self.tuner is None:
                    tuned_from = copy.deepcopy(self.projector.G)
                    self.tuner = PivotalTuner(tuned_from, self.projector.best_ws, self.target, self.loss,
                                              self.job.pti_steps, self.job.seed)  # fmt: skip
                optimiser = self.tuner or self.projector
                self.last = optimiser.step()
                if time.perf_counter() > deadline:
                    break
        current = self.tuner or self.projector
        image = current.image if current.image is not None else self.target
        report = InversionReport(
            phase="tuning" if self.tuner else "inverting",
            step=current.steps_done,
            steps=current.num_steps,
            loss=None if self.last is None else self.last.loss,
            psnr=None if self.last is None else self.last.psnr,
            done=self.finished,
            image=to_uint8(image)[0],
            target=to_uint8(self.target)[0],
            ws=self.projector.best_ws[0].cpu().numpy(),
            class_index=self.class_index,
            notes=[self.loss_note, f"class: {self.class_note}"],
        )
        tuned = self.tuner.tuned_generator() if self.tuner and self.tuner.done else None
        return report, tuned

    @property
    def finished(self) -> bool:
        if not self.projector.done:
            return False
        return self.job.pti_steps == 0 or (self.tuner is not None and self.tuner.done)
