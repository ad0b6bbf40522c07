"""The visualizer's renderer: a plain dict of arguments in, a plain dict of results out. No OpenGL here.

It caches loaded networks and the ws of seeds, so a change of psi or of the mixed layers does not map seeds
again. Everything it draws it gets from `stylegan.latent` and `stylegan.inversion`, so the same image can be
made from the command line. Errors go into the result (`error`), never out of `render`.
"""

from __future__ import annotations

import collections
import copy
import math
import threading
import time
import traceback
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

import stylegan
from stylegan.errors import StyleGANError
from stylegan.images import to_uint8
from stylegan.latent import (
    Endpoint,
    class_names,
    interpolate,
    one_hot,
    seed_classes,
    seed_grid_weights,
    style_mix,
    synthesize,
    truncate,
    z_from_seeds,
)
from stylegan.networks.alias_free import SynthesisNetwork
from stylegan.networks.summary import layer_rows, parameter_count

DEFAULT_MODEL = "default"  # the bundled trained model; the random presets stay available by name
FFT_BETA = 8.0  # Kaiser window of the layer spectrum view
FFT_RANGE_DB = 50.0

# Every argument the renderer understands, with its default. Panels write these; sessions save them.
DEFAULT_ARGS: dict[str, Any] = dict(
    model=DEFAULT_MODEL,
    device="cpu",
    fp16=False,  # the layers the model marks fp16 run in float16 (CUDA only)
    seed_x=0.0,  # position on the 2-D seed grid: integer points are seeds
    seed_y=0.0,
    class_index=None,  # None: the seed's own draw, as the command line does
    psi=1.0,
    cutoff=None,
    noise_mode="const",
    noise_seed=0,
    latent_ws=None,  # [num_ws, w_dim]: a latent given directly (an inversion result), replacing the seed
    mix_enabled=False,
    mix_seed=1,
    mix_class=None,
    mix_layers=[],
    interp_enabled=False,
    interp_a=dict(seed=0, class_index=None, ws=None),
    interp_b=dict(seed=1, class_index=None, ws=None),
    interp_t=0.0,
    interp_space="w",
    translate_x=0.0,  # input transform of alias-free models (StyleGAN3 / StyleGAN-XL)
    translate_y=0.0,
    rotate=0.0,  # radians
    layer=None,  # the synthesis layer to show instead of the output
    channel=0,  # first channel shown
    rgb=True,  # three channels as RGB, else one channel as grey
    normalize=True,
    brightness_db=0.0,
    fft=False,
    inversion=None,  # dict(target=path, space='w+', steps=N, pti_steps=M, seed=S, run=int) while inverting
)


class Renderer:
    """Turns argument dicts into images. Keeps the networks, seed ws and a running inversion between calls."""

    def __init__(self, ws_cache_size: int = 4096):
        self._networks: dict[tuple[str, str], stylegan.Generator] = {}
        self._facts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # G -> (model info, layer list)
        self._ws_cache: collections.OrderedDict = collections.OrderedDict()
        self._ws_cache_size = ws_cache_size
        self._network_lock = threading.Lock()  # the capture panel's video export asks for the network too
        self._inversion: _InversionRun | None = None
        self._registered: dict[str, stylegan.Generator] = {}  # generators made here (PTI), by name

    def render(self, args: dict) -> dict:
        """One frame: `args` (missing keys take DEFAULT_ARGS) -> dict(image, ws, model, layers, stats, error...)."""
        args = {**DEFAULT_ARGS, **args}
        result: dict[str, Any] = dict(error=None, image=None)
        start = time.perf_counter()
        try:
            with torch.no_grad():
                self._render(args, result)
        except StyleGANError as error:
            result["error"] = str(error)
        except Exception as error:  # a renderer must keep the window alive; the panel shows what went wrong
            result["error"] = f"{type(error).__name__}: {error}"
            result["traceback"] = traceback.format_exc()
        result["render_seconds"] = time.perf_counter() - start
        return result

    # -- models -------------------------------------------------------------------------------------------------

    def network(self, model: str, device: str) -> stylegan.Generator:
        with self._network_lock:
            return self._network(model, device)

    def _network(self, model: str, device: str) -> stylegan.Generator:
        key = (str(model), str(device))
        if key not in self._networks:
            if device.startswith("cuda") and not torch.cuda.is_available():
                raise StyleGANError("CUDA is not available on this machine; choose the CPU")
            self._networks.clear()  # one model at a time: big generators do not fit twice
            self._ws_cache.clear()
            if model in self._registered:
                self._networks[key] = self._registered[model].to(device)
            else:
                self._networks[key] = stylegan.load(model, device=device).eval().requires_grad_(False)
        return self._networks[key]

    def facts(self, G: stylegan.Generator) -> tuple[dict, list[dict]]:
        """(model info, layer list) of G, worked out once per network rather than every frame."""
        if G not in self._facts:
            layers = [dict(name=r.name, size=r.size, channels=r.channels, fp16=r.fp16) for r in layer_rows(G)]
            self._facts[G] = (self.model_info(G), layers)
        return self._facts[G]

    def register(self, name: str, G: stylegan.Generator) -> None:
        """Make a generator built here (a PTI result) loadable by `name` as the `model` argument."""
        self._registered[name] = G

    @staticmethod
    def model_info(G: stylegan.Generator) -> dict:
        return dict(
            architecture=G.architecture,
            resolution=G.img_resolution,
            num_ws=G.num_ws,
            c_dim=G.c_dim,
            z_dim=G.z_dim,
            w_dim=G.w_dim,
            parameters=parameter_count(G),
            has_noise=G.has_noise,
            alias_free=isinstance(G.synthesis, SynthesisNetwork),
            random_init=bool(G.metadata.get("random_init")),
            class_names=class_names(G),
            device=str(G.mapping.w_avg.device),
        )

    # -- latents ------------------------------------------------------------------------------------------------

    def seed_ws(self, G: stylegan.Generator, seed: int, class_index: int | None) -> torch.Tensor:
        """ws [num_ws, w_dim] of a seed at psi 1, cached."""
        key = (id(G), seed, class_index)
        if key not in self._ws_cache:
            device = G.mapping.w_avg.device
            classes = seed_classes(G, [seed], class_index)
            z = z_from_seeds([seed], G.z_dim, device)
            self._ws_cache[key] = G.mapping(z, one_hot(classes, G.c_dim, device))[0]
            while len(self._ws_cache) > self._ws_cache_size:
                self._ws_cache.popitem(last=False)
        self._ws_cache.move_to_end(key)
        return self._ws_cache[key]

    def _centre(self, G, seed: int, class_index: int | None) -> torch.Tensor:
        classes = seed_classes(G, [seed], class_index)
        return G.mapping.class_centers(one_hot(classes, G.c_dim, G.mapping.w_avg.device))[0]

    def blended_ws(
        self, G, seeds: list[tuple[int, float]], class_index: int | None, psi, cutoff
    ) -> torch.Tensor:
        """Truncated ws [num_ws, w_dim] of a weighted blend of seeds (weights summing to 1): the seeds' ws and
        their class centres are blended alike, so truncation pulls towards the blended centre."""
        ws = centre = 0
        for seed, weight in seeds:
            ws = ws + weight * self.seed_ws(G, seed, class_index)
            centre = centre + weight * self._centre(G, seed, class_index)
        return truncate(ws[None], centre[None], psi, cutoff)[0]

    def _base_ws(self, G, args) -> torch.Tensor:
        """The current latent before mixing: a given w, an interpolation, or the blend of grid seeds."""
        if args["interp_enabled"]:
            a, b = (_endpoint(G, args[key]) for key in ("interp_a", "interp_b"))
            t = float(args["interp_t"])
            return interpolate(G, a, b, [t], args["interp_space"], args["psi"], args["cutoff"])[0]
        if args["latent_ws"] is not None:
            return _checked_ws(G, args["latent_ws"])
        seeds = seed_grid_weights(float(args["seed_x"]), float(args["seed_y"]))
        return self.blended_ws(G, seeds, args["class_index"], args["psi"], args["cutoff"])

    # -- one frame ----------------------------------------------------------------------------------------------

    def _render(self, args: dict, result: dict) -> None:
        G = self.network(args["model"], args["device"])
        result["model"], result["layers"] = self.facts(G)
        if args["class_index"] is not None:
            if G.c_dim == 0:
                raise StyleGANError("this model is not class-conditional")
            if not 0 <= int(args["class_index"]) < G.c_dim:
                raise StyleGANError(f"class {args['class_index']} is out of range: 0 to {G.c_dim - 1}")
        if args["inversion"] is not None:
            report = self._step_inversion(G, args, result)
            if not report["done"]:  # show the target and the current reconstruction side by side
                result["image"] = np.concatenate([report["target"], report["image"]], axis=1)
                return
        ws = self._base_ws(G, args)
        if args["mix_enabled"] and args["mix_layers"]:
            other = self.blended_ws(
                G, [(int(args["mix_seed"]), 1.0)], args["mix_class"], args["psi"], args["cutoff"]
            )
            ws = style_mix(ws[None], other[None], [i for i in args["mix_layers"] if 0 <= i < G.num_ws])[0]
        result["ws"] = ws.cpu().numpy()
        self._set_transform(G, args)
        capture = _LayerCapture(G, args["layer"]) if args["layer"] else None
        try:
            force_fp32 = not args["fp16"]
            start = time.perf_counter()
            image = synthesize(G, ws[None], args["noise_mode"], int(args["noise_seed"]), force_fp32)
            if G.mapping.w_avg.device.type == "cuda":
                torch.cuda.synchronize()
            result["synthesis_seconds"] = time.perf_counter() - start
        finally:
            if capture is not None:
                capture.remove()
        if capture is not None:
            result["image"] = activation_image(
                capture.output,
                args["channel"],
                args["rgb"],
                args["normalize"],
                args["brightness_db"],
                args["fft"],
            )
            result["layer_shape"] = list(capture.output.shape[1:])
            result["layer_dtype"] = str(capture.output.dtype).replace("torch.", "")
        else:
            result["image"] = to_uint8(image)[0]

    @staticmethod
    def _set_transform(G, args) -> None:
        if not isinstance(G.synthesis, SynthesisNetwork):
            return
        angle, x, y = float(args["rotate"]), float(args["translate_x"]), float(args["translate_y"])
        cos, sin = math.cos(angle), math.sin(angle)
        matrix = torch.tensor([[cos, sin, x], [-sin, cos, y], [0.0, 0.0, 1.0]])
        G.synthesis.input.transform.copy_(matrix)

    # -- inversion ----------------------------------------------------------------------------------------------

    def _step_inversion(self, G, args: dict, result: dict) -> dict:
        settings = dict(args["inversion"])
        if self._inversion is None or self._inversion.settings != settings or self._inversion.G is not G:
            self._inversion = _InversionRun(G, settings)
        report = self._inversion.advance(paused=bool(settings.get("paused")))
        if report["tuned"] is not None:
            name = f"pti:{Path(settings['target']).name}:{settings.get('run', 0)}"
            self.register(name, report["tuned"])
            report["tuned_model"] = name
        result["inversion"] = report
        return report


def _endpoint(G, spec: dict) -> Endpoint:
    if spec.get("ws") is not None:
        return Endpoint(w=_checked_ws(G, spec["ws"]))
    return Endpoint(seed=int(spec.get("seed", 0)), class_index=spec.get("class_index"))


def _checked_ws(G, ws) -> torch.Tensor:
    ws = torch.as_tensor(np.asarray(ws, dtype=np.float32), device=G.mapping.w_avg.device)
    if ws.shape != (G.num_ws, G.w_dim):
        raise StyleGANError(
            f"this latent has shape {list(ws.shape)}; the model takes [{G.num_ws}, {G.w_dim}]"
        )
    return ws


class _LayerCapture:
    """Keeps the output of one named synthesis layer during a forward pass."""

    def __init__(self, G, name: str):
        modules = dict(G.synthesis.named_modules())
        if name not in modules or not name:
            raise StyleGANError(f"this model has no layer called {name!r}")
        self.output: torch.Tensor | None = None
        self._handle = modules[name].register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        self.output = (output[0] if isinstance(output, tuple) else output).detach()

    def remove(self) -> None:
        self._handle.remove()


def activation_image(
    activations: torch.Tensor,  # [1, C, H, W]
    channel: int = 0,
    rgb: bool = True,
    normalize: bool = True,
    brightness_db: float = 0.0,
    fft: bool = False,
) -> np.ndarray:
    """A layer's activations as a picture: three channels as RGB or one as grey, optionally normalised to the
    largest magnitude, scaled by a brightness in dB, and with the power spectrum (Kaiser window, dB) beside it."""
    x = activations[0].to(torch.float32)
    count = 3 if rgb else 1
    first = int(np.clip(channel, 0, max(x.shape[0] - count, 0)))
    picked = x[first : first + count]
    if picked.shape[0] < count:
        picked = picked[:1].expand(count, -1, -1)
    if normalize:
        picked = picked / picked.abs().amax(dim=(1, 2), keepdim=True).clamp(1e-8, 1e8)
    picked = picked * 10 ** (brightness_db / 20)
    image = (picked * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if count == 1:
        image = image.expand(3, -1, -1)
    if fft:
        image = torch.cat([image, _spectrum(x[first : first + count])], dim=2)
    return image.permute(1, 2, 0).cpu().numpy()


def _spectrum(signal: torch.Tensor) -> torch.Tensor:
    """Power spectrum of channels [C, H, W], summed over channels, centred, in dB around its mean: [3, H, W]."""
    signal = signal - signal.mean(dim=(1, 2), keepdim=True)
    height, width = signal.shape[1:]
    window_y = torch.kaiser_window(height, periodic=False, beta=FFT_BETA, device=signal.device)
    window_x = torch.kaiser_window(width, periodic=False, beta=FFT_BETA, device=signal.device)
    signal = signal * window_y[None, :, None] * window_x[None, None, :]
    power = torch.fft.fftn(signal, dim=(1, 2)).abs().square().sum(dim=0)
    power = power.roll(shifts=(height // 2, width // 2), dims=(0, 1))
    decibels = 10 * torch.log10(power / power.mean().clamp(min=1e-20) + 1e-20)
    grey = ((decibels / FFT_RANGE_DB + 1) / 2 * 255).clamp(0, 255).to(torch.uint8)
    return grey.expand(3, -1, -1)


class _InversionRun:
    """A projection (then optionally PTI) advanced a little at each frame."""

    STEP_BUDGET_SECONDS = 0.05  # steps per frame: as many as fit, at least one

    def __init__(self, G, settings: dict):
        from stylegan.inversion import Projector, load_target, resolve_start_class
        from stylegan.perceptual import ReconstructionLoss, load_lpips

        self.G, self.settings = G, settings
        device = G.mapping.w_avg.device
        self.target = load_target(Path(settings["target"]), G.img_resolution, G.img_channels).to(device)
        lpips_model, self.loss_note = load_lpips(device)
        self.loss = ReconstructionLoss(lpips_model)
        self.class_index, self.class_note = resolve_start_class(
            G, settings.get("class"), self.target, self.loss
        )
        steps, seed = int(settings.get("steps", 300)), int(settings.get("seed", 0))
        with torch.enable_grad():
            self.projector = Projector(G, self.target, self.loss, self.class_index, settings.get("space", "w+"),
                                       steps, seed)  # fmt: skip
        self.tuner = None
        self.last = None

    def advance(self, paused: bool) -> dict:
        from stylegan.inversion import PivotalTuner

        deadline = time.perf_counter() + self.STEP_BUDGET_SECONDS
        with torch.enable_grad():
            while not paused and not self.finished:
                if self.projector.done and self.tuner is None:
                    tuned_from = copy.deepcopy(self.projector.G)
                    self.tuner = PivotalTuner(tuned_from, self.projector.best_ws, self.target, self.loss,
                                              int(self.settings["pti_steps"]), int(self.settings.get("seed", 0)))  # fmt: skip
                optimiser = self.tuner or self.projector
                self.last = optimiser.step()
                if time.perf_counter() > deadline:
                    break
        current = self.tuner or self.projector
        image = current.image if current.image is not None else self.target
        return dict(
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
            tuned=self.tuner.tuned_generator() if self.tuner and self.tuner.done else None,
        )

    @property
    def finished(self) -> bool:
        if not self.projector.done:
            return False
        pti_steps = int(self.settings.get("pti_steps", 0))
        return pti_steps == 0 or (self.tuner is not None and self.tuner.done)
