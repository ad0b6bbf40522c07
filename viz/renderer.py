"""The visualizer's renderer: a view in, a dict of results out. No OpenGL here.

The picture itself is `stylegan.view.render_view`, the same function `stylegan generate --session` calls; this
adds what a live window needs around it: loaded networks and the ws of seeds cached (so a change of psi or of
the mixed layers does not map seeds again), inversions advanced a few steps per frame, and generators tuned
by PTI. Errors go into the result (`error`), never out of `render`.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
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
from stylegan.latent import class_names
from stylegan.networks.summary import parameter_count
from stylegan.view import InversionJob, ViewArgs, render_view
from stylegan.view import seed_ws as uncached_seed_ws

# The arguments as the panels write them today (a dict per field of ViewArgs).
DEFAULT_ARGS: dict[str, Any] = dataclasses.asdict(ViewArgs())


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

    def render(self, args: ViewArgs | dict) -> dict:
        """One frame: a view (or its fields as a dict; missing ones take the defaults, unknown ones are an error)
        -> dict(image, ws, model, layers, stats, error...)."""
        result: dict[str, Any] = dict(error=None, image=None)
        start = time.perf_counter()
        try:
            if not isinstance(args, ViewArgs):
                args = ViewArgs.from_json(args)
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
            self._release_tuned(keep=model)
            if model in self._registered:
                self._networks[key] = self._registered[model].to(device)
            else:
                self._networks[key] = stylegan.load(model, device=device).eval().requires_grad_(False)
        return self._networks[key]

    def facts(self, G: stylegan.Generator) -> tuple[dict, list[dict]]:
        """(model info, layer list) of G, worked out once per network rather than every frame."""
        if G not in self._facts:
            layers = [dict(name=r.name, size=r.size, channels=r.channels, fp16=r.fp16) for r in G.layers()]
            self._facts[G] = (self.model_info(G), layers)
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

    def _render(self, args: ViewArgs, result: dict) -> None:
        G = self.network(args.model, args.device)
        result["model"], result["layers"] = self.facts(G)
        if args.inversion is not None:
            report = self._step_inversion(G, args.inversion, result)
            if not report["done"]:  # show the target and the current reconstruction side by side
                result["image"] = np.concatenate([report["target"], report["image"]], axis=1)
                return
        view = render_view(G, args, self.seed_ws)
        result["image"], result["ws"] = view.image, view.ws
        result["synthesis_seconds"] = view.synthesis_seconds
        if view.layer_shape is not None:
            result["layer_shape"], result["layer_dtype"] = view.layer_shape, view.layer_dtype

    # -- inversion ----------------------------------------------------------------------------------------------

    def _step_inversion(self, G, job: InversionJob, result: dict) -> dict:
        run = self._inversion
        if run is None or run.job.restart_key() != job.restart_key() or run.G is not G:
            self._inversion = run = _InversionRun(G, job)
        report = run.advance(paused=job.paused)
        if report["tuned"] is not None:
            name = f"pti:{Path(job.target).name}:{job.run}"
            self.register(name, report["tuned"])
            report["tuned_model"] = name
        result["inversion"] = report
        return report


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

    def advance(self, paused: bool) -> dict:
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
        return self.job.pti_steps == 0 or (self.tuner is not None and self.tuner.done)
