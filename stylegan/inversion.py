"""Inversion: find the latent that makes the generator draw a given image, then optionally fine-tune the
generator around it (pivotal tuning, PTI).

Both run one step at a time (`Projector.step`, `PivotalTuner.step`), so the visualizer can show the current
reconstruction between frames; `invert` and `pivotal_tuning` run them to the end. The schedule follows the
official StyleGAN-XL projector (Adam, lr 0.1, 5 % warm-up, cosine ramp-down over the last 25 %); StyleGAN2 models
also optimise their noise maps with the StyleGAN2 noise regulariser.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.images import has_transparency, open_image
from stylegan.io.archive import read_npz
from stylegan.io.atomic import atomic_path
from stylegan.latent import one_hot, resolve_class
from stylegan.networks.generator import Generator
from stylegan.perceptual import ReconstructionLoss, psnr
from stylegan.pretrained import create_timm_model, local_weights

INVERSION_SPACES = ("w", "w+")
CLASSIFIER_NAME = "deit_base_distilled_patch16_224"  # the official projector's class guesser
W_STATISTICS_SAMPLES = (
    10_000  # samples for the spread of w (the StyleGAN2 w-noise ramp), as the official code
)
NOISE_REGULARIZE_WEIGHT = 1e5
INITIAL_W_NOISE = 0.05
W_NOISE_RAMP = 0.75
LR_RAMPUP = 0.05
LR_RAMPDOWN = 0.25
BOX_REDUCIBLE_MODES = ("L", "RGB", "I", "F", "CMYK", "YCbCr")  # no alpha, which a box filter would smear


# ---------------------------------------------------------------------------------------------------------------
# Targets


def load_target(path: str | Path, resolution: int, channels: int = 3) -> torch.Tensor:
    """An image file as a target [1, channels, resolution, resolution] in [-1, 1].

    Any format Pillow reads; EXIF orientation applied; transparency composited on white; 16-bit images keep
    their precision until the end; centre crop to a square, then a Lanczos resize.
    """
    import PIL.Image

    image = open_image(Path(path))
    width, height = image.size
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image.crop((left, top, left + side, top + side))
    factor = side // (4 * resolution)
    if factor >= 2 and image.mode in BOX_REDUCIBLE_MODES:  # a photo far larger than the model: shrink it
        image = image.reduce(factor)  # before it becomes 12 bytes of float per pixel
    planes = _float_planes(image)  # [C, H, W] in [0, 1]
    resized = [
        np.asarray(PIL.Image.fromarray(plane, mode="F").resize((resolution, resolution), PIL.Image.LANCZOS))
        for plane in planes
    ]
    pixels = np.clip(np.stack(resized), 0, 1)
    if channels == 1 and pixels.shape[0] == 3:
        pixels = (pixels * np.array([0.299, 0.587, 0.114])[:, None, None]).sum(0, keepdims=True)
    elif channels == 3 and pixels.shape[0] == 1:
        pixels = pixels.repeat(3, axis=0)
    return torch.from_numpy(pixels.astype(np.float32) * 2 - 1).unsqueeze(0)


def checked_target(G: Generator, target: torch.Tensor) -> torch.Tensor:
    """The target [1, C, H, W] on G's device, once its shape fits G and its values are finite."""
    expected = (G.img_channels, G.img_resolution, G.img_resolution)
    if target.ndim != 4 or target.shape[0] != 1 or tuple(target.shape[1:]) != expected:
        raise StyleGANError(f"the target is {list(target.shape)}, the generator draws {[1, *expected]}")
    if not torch.isfinite(target).all():
        raise StyleGANError("the target image holds NaN or infinite values")
    return target.to(G.device)


def _float_planes(image) -> np.ndarray:
    """Colour planes [C, H, W] float32 in [0, 1]: C = 1 for grey images, 3 otherwise."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float32)
        return (values / (65535.0 if values.max() > 255 else 255.0))[None]
    if image.mode == "F":
        return np.clip(np.asarray(image, dtype=np.float32), 0, 1)[None]
    grey = image.mode in ("L", "LA", "1")
    if has_transparency(image):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[:, :, 3:]
        rgb = rgba[:, :, :3] * alpha + (1 - alpha)  # on white
        return rgb[:, :, :1].transpose(2, 0, 1) if grey else rgb.transpose(2, 0, 1)
    if grey:
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255)[None]
    return np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255


# ---------------------------------------------------------------------------------------------------------------
# Start point and class


def infer_classes(G: Generator, target: torch.Tensor, loss: ReconstructionLoss, keep: int = 3) -> list[int]:
    """The classes whose centres (w_avg[c]) draw images closest to the target, best first.

    This is the fallback for a pretrained classifier: it needs nothing but the generator, and costs one
    synthesis per class.
    """
    device = G.device
    scores = []
    with torch.no_grad():
        for start in range(0, G.c_dim, 16):
            classes = list(range(start, min(start + 16, G.c_dim)))
            centres = G.mapping.class_centers(one_hot(classes, G.c_dim, device))
            images = G.synthesis(centres.unsqueeze(1).repeat(1, G.num_ws, 1))
            scores.append(loss(images, target.to(device)))
    return torch.cat(scores).argsort()[:keep].tolist()


def resolve_start_class(G: Generator, spec: str | int | None, target: torch.Tensor, loss: ReconstructionLoss):
    """(class index or None, how it was chosen) for --class auto|N|name on G."""
    if G.c_dim == 0:
        if spec not in (None, "auto"):
            raise StyleGANError("this model is not class-conditional: leave out the class")
        return None, "unconditional"
    if spec not in (None, "auto"):
        return resolve_class(G, spec), "given"
    if G.c_dim == 1000:
        classifier, _ = load_classifier(G.device)
        if classifier is not None:
            return classify(classifier, target)[0], f"classifier {CLASSIFIER_NAME}"
    candidates = infer_classes(G, target, loss)
    return candidates[0], f"closest class centres {candidates}"


def load_classifier(device: str | torch.device = "cpu"):
    """The ImageNet classifier the official projector uses (DeiT through timm), when its weights are on this
    machine ($STYLEGAN_WEIGHTS or the Hugging Face cache); never downloaded. (model or None, a note)."""
    try:
        model = create_timm_model(CLASSIFIER_NAME, pretrained=True, download=False)
    except StyleGANError as error:
        return None, str(error)
    return model.eval().requires_grad_(False).to(
        device
    ), f"{CLASSIFIER_NAME} from {local_weights(CLASSIFIER_NAME)}"


def classify(classifier: torch.nn.Module, target: torch.Tensor, keep: int = 3) -> list[int]:
    """The classifier's most likely ImageNet classes for the target, as the official projector feeds it
    (the [-1, 1] image resized to 224)."""
    with torch.no_grad():
        image = torch.nn.functional.interpolate(target.to(torch.float32), size=(224, 224))
        logits = classifier(image.to(next(classifier.parameters()).device))
    return logits[0].argsort(descending=True)[:keep].tolist()


def learning_rate(step: int, num_steps: int, initial: float = 0.1) -> float:
    """The official projector's schedule: linear warm-up over the first 5 %, cosine ramp-down over the last 25 %."""
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / LR_RAMPUP)


# ---------------------------------------------------------------------------------------------------------------
# Projection


@dataclasses.dataclass
class StepReport:
    step: int  # steps done, counting this one
    loss: float  # of the image before this step's update
    psnr: float  # dB, same image
    lr: float


class Projector:
    """Optimises a latent so that G draws `target`, one `step()` at a time.

    space 'w' optimises one w broadcast to every layer (as the paper); 'w+' one w per layer. The start is the
    class centre w_avg[c] (or the global w_avg). `best_ws` always holds the ws with the lowest loss seen, so a
    run stopped early still has a result. The same seed gives the same steps.
    """

    def __init__(
        self,
        G: Generator,
        target: torch.Tensor,  # [1, C, H, W] in [-1, 1]
        loss: ReconstructionLoss,
        class_index: int | None = None,
        space: str = "w+",
        num_steps: int = 1000,
        seed: int = 0,
        initial_lr: float = 0.1,
    ):
        if space not in INVERSION_SPACES:
            raise StyleGANError(f"unknown inversion space {space!r}: use w or w+")
        if num_steps < 1:
            raise StyleGANError("the number of steps must be at least 1")
        device = G.device
        self.G = copy.deepcopy(G).eval().requires_grad_(False)  # StyleGAN2 noise maps are optimised in place
        self.target = checked_target(G, target)
        self.loss = loss
        self.class_index = class_index
        self.space = space
        self.num_steps = num_steps
        self.initial_lr = initial_lr
        self.steps_done = 0
        self.random = torch.Generator(device=device).manual_seed(seed)
        c = one_hot([class_index or 0], G.c_dim, device)
        centre = self.G.mapping.class_centers(c) if G.c_dim else self.G.mapping.w_avg[None]
        self.w = (
            centre.unsqueeze(1).repeat(1, G.num_ws if space == "w+" else 1, 1).clone().requires_grad_(True)
        )
        parameters = [self.w]
        self.noise_maps = [
            buf for name, buf in self.G.synthesis.named_buffers() if name.endswith("noise_const")
        ]
        self.w_std = 0.0
        if self.noise_maps:  # StyleGAN2: optimise the noise too, and explore with a decaying noise on w
            for buf in self.noise_maps:
                buf.copy_(torch.randn(buf.shape, generator=self.random, device=device)).requires_grad_(True)
            parameters += self.noise_maps
            self.w_std = self._w_std(c)
        self.optimizer = torch.optim.Adam(parameters, betas=(0.9, 0.999), lr=initial_lr)
        self.best_loss = math.inf
        self.best_ws = self.ws()
        self.image: torch.Tensor | None = None  # the image of the last step, [1, C, H, W]

    def _w_std(self, c: torch.Tensor) -> float:
        z = torch.from_numpy(np.random.RandomState(123).randn(W_STATISTICS_SAMPLES, self.G.z_dim))
        with torch.no_grad():
            w = self.G.mapping(z.to(c.device, torch.float32), c.expand(W_STATISTICS_SAMPLES, -1))[:, 0]
        return float((w - w.mean(0)).square().sum(1).mean().sqrt())

    @property
    def done(self) -> bool:
        return self.steps_done >= self.num_steps

    def ws(self) -> torch.Tensor:
        """The current ws [1, num_ws, w_dim]."""
        return self.w.detach().expand(1, self.G.num_ws, -1).clone()

    def step(self) -> StepReport:
        t = self.steps_done / self.num_steps
        lr = learning_rate(self.steps_done, self.num_steps, self.initial_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        ws = self.w.expand(1, self.G.num_ws, -1)
        if self.noise_maps:
            scale = self.w_std * INITIAL_W_NOISE * max(0.0, 1.0 - t / W_NOISE_RAMP) ** 2
            ws = ws + torch.randn(ws.shape, generator=self.random, device=ws.device) * scale
        images = self.G.synthesis(ws, noise_mode="const")
        loss = self.loss(images, self.target).sum()
        total = loss + NOISE_REGULARIZE_WEIGHT * self._noise_regularizer() if self.noise_maps else loss
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if loss.item() < self.best_loss:
            self.best_loss, self.best_ws = loss.item(), self.ws()
        self.optimizer.step()
        with torch.no_grad():
            for buf in self.noise_maps:
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
        self.image = images.detach()
        self.steps_done += 1
        return StepReport(self.steps_done, loss.item(), psnr(self.image, self.target).item(), lr)

    def _noise_regularizer(self) -> torch.Tensor:
        """StyleGAN2's penalty on spatial autocorrelation of the noise maps, over a pyramid down to 8x8."""
        total = 0
        for buf in self.noise_maps:
            noise = buf[None, None]
            while True:
                total = total + (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
                total = total + (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
                if noise.shape[2] <= 8:
                    break
                noise = torch.nn.functional.avg_pool2d(noise, kernel_size=2)
        return total


# ---------------------------------------------------------------------------------------------------------------
# Pivotal tuning


class PivotalTuner:
    """Fine-tunes a copy of G so that the pivot ws draw the target (Roich et al. 2022), one `step()` at a time.

    Loss: the reconstruction loss of the pivot image plus the locality regulariser: at a point 30 units from
    the pivot towards a random w (psi 0.5), the tuned generator must still draw what the original drew.
    """

    def __init__(
        self,
        G: Generator,
        pivot: torch.Tensor,  # [1, num_ws, w_dim]
        target: torch.Tensor,
        loss: ReconstructionLoss,
        num_steps: int = 350,
        seed: int = 0,
        lr: float = 3e-4,
        pixel_weight: float = 1.0,
        locality_weight: float = 10.0,
        locality_distance: float = 30.0,
    ):
        self.original = copy.deepcopy(G).eval().requires_grad_(False)
        self.G = copy.deepcopy(G).eval().requires_grad_(True)
        self.pivot = pivot.detach().to(G.device)
        self.target = checked_target(G, target)
        self.loss = loss
        self.num_steps = num_steps
        self.pixel_weight = pixel_weight
        self.locality_weight = locality_weight
        self.locality_distance = locality_distance
        self.steps_done = 0
        self.random = torch.Generator(device=self.pivot.device).manual_seed(seed)
        self.optimizer = torch.optim.Adam(self.G.parameters(), lr=lr)
        self.image: torch.Tensor | None = None

    @property
    def done(self) -> bool:
        return self.steps_done >= self.num_steps

    def step(self) -> StepReport:
        images = self.G.synthesis(self.pivot, noise_mode="const")
        reconstruction = self.loss(images, self.target).sum()
        mse = (images - self.target).square().mean()
        total = reconstruction + self.pixel_weight * mse + self.locality_weight * self._locality()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.image = images.detach()
        self.steps_done += 1
        lr = self.optimizer.param_groups[0]["lr"]
        return StepReport(self.steps_done, reconstruction.item(), psnr(self.image, self.target).item(), lr)

    def _locality(self) -> torch.Tensor:
        device = self.pivot.device
        z = torch.randn([1, self.G.z_dim], generator=self.random, device=device)
        classes = torch.randint(max(self.G.c_dim, 1), [1], generator=self.random, device=device).tolist()
        with torch.no_grad():
            w = self.original.mapping(z, one_hot(classes, self.G.c_dim, device), truncation_psi=0.5)
            direction = w - self.pivot
            point = self.pivot + self.locality_distance * direction / direction.norm()
            before = self.original.synthesis(point, noise_mode="const")
        after = self.G.synthesis(point, noise_mode="const")
        return self.loss(after, before).sum()

    def tuned_generator(self) -> Generator:
        return self.G.requires_grad_(False)


# ---------------------------------------------------------------------------------------------------------------
# Running to the end


def run_steps(
    optimiser: Projector | PivotalTuner, on_step: Callable[[StepReport], None] | None = None
) -> list[StepReport]:
    """Step until done; on_step sees every report (progress bars, video frames). Ctrl-C stops early and
    propagates, leaving the optimiser's results (best_ws, the tuned G) as far as they got."""
    reports = []
    while not optimiser.done:
        report = optimiser.step()
        reports.append(report)
        if on_step:
            on_step(report)
    return reports


@dataclasses.dataclass
class InversionResult:
    """What an inversion found: the pivot ws (and a tuned generator after PTI), with how it got there."""

    G: Generator  # the generator the projection ran on
    target: torch.Tensor  # [1, C, H, W] in [-1, 1]
    ws: torch.Tensor  # [1, num_ws, w_dim]: the best latent
    class_index: int | None
    class_chosen_by: str
    space: str
    loss: ReconstructionLoss
    steps: int
    interrupted: bool  # Ctrl-C stopped it; everything here is the best so far
    tuned: Generator | None = None  # after pivotal tuning
    pti_steps: int = 0

    def metrics(self) -> dict:
        """PSNR, SSIM and (with its weights) LPIPS of the pivot and, after PTI, of the tuned generator."""
        from stylegan.perceptual import reconstruction_metrics

        lpips_model = self.loss.lpips
        with torch.no_grad():
            results = {"space": self.space, "class": self.class_index, "class_chosen_by": self.class_chosen_by,
                       "loss": self.loss.name, "steps": self.steps, "interrupted": self.interrupted}  # fmt: skip
            results["pivot"] = reconstruction_metrics(self.G.synthesis(self.ws), self.target, lpips_model)
            if self.tuned is not None:
                results["pti"] = reconstruction_metrics(
                    self.tuned.synthesis(self.ws), self.target, lpips_model
                )
                results["pti_steps"] = self.pti_steps
        return results

    def save(self, outdir: str | Path, **tuned_metadata) -> dict:
        """Write target.png, proj.png, projected_w.npz, metrics.json and, after PTI, proj_pti.png and
        G_pti.safetensors (with `tuned_metadata`) into outdir, each atomically. Returns the metrics."""
        import json

        import stylegan
        from stylegan.images import save_image, to_uint8

        outdir = Path(outdir)
        metrics = self.metrics()
        with torch.no_grad():
            save_image(to_uint8(self.target)[0], outdir / "target.png")
            save_image(to_uint8(self.G.synthesis(self.ws))[0], outdir / "proj.png")
            save_latent(outdir / "projected_w.npz", self.ws, self.class_index, self.space)
            if self.tuned is not None:
                save_image(to_uint8(self.tuned.synthesis(self.ws))[0], outdir / "proj_pti.png")
                stylegan.save(
                    self.tuned, outdir / "G_pti.safetensors", pivot_class=self.class_index, **tuned_metadata
                )
        with atomic_path(outdir / "metrics.json") as tmp_path:
            tmp_path.write_text(json.dumps(metrics, indent=2) + "\n")
        return metrics


def invert(
    G: Generator,
    target: torch.Tensor,  # [1, C, H, W] in [-1, 1], on G's device (see load_target)
    loss: ReconstructionLoss,
    class_spec: str | int | None = "auto",
    space: str = "w+",
    steps: int = 1000,
    pti_steps: int = 0,
    seed: int = 0,
    on_step: Callable[[str, Projector | PivotalTuner, StepReport], None] | None = None,
) -> InversionResult:
    """Project `target` into G's latent space, then optionally tune G around the pivot (PTI). on_step(phase,
    optimiser, report) sees every step, phase 'inverting' or 'tuning'. Ctrl-C ends it early with the best
    result so far (`interrupted`)."""
    class_index, chosen_by = resolve_start_class(G, class_spec, target, loss)
    projector = Projector(G, target, loss, class_index, space, steps, seed)
    interrupted = _run_phase(projector, "inverting", on_step)
    tuner = None
    if pti_steps and not interrupted:
        tuner = PivotalTuner(projector.G, projector.best_ws, target, loss, pti_steps, seed)
        interrupted = _run_phase(tuner, "tuning", on_step)
    return InversionResult(
        G=projector.G, target=target, ws=projector.best_ws, class_index=class_index, class_chosen_by=chosen_by,
        space=space, loss=loss, steps=projector.steps_done, interrupted=interrupted,
        tuned=None if tuner is None else tuner.tuned_generator(), pti_steps=0 if tuner is None else tuner.steps_done,
    )  # fmt: skip


def _run_phase(optimiser, phase: str, on_step) -> bool:
    """Run to the end; True when Ctrl-C stopped it."""
    try:
        run_steps(optimiser, None if on_step is None else lambda report: on_step(phase, optimiser, report))
    except KeyboardInterrupt:
        return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# Latent files


def save_latent(path: str | Path, ws: torch.Tensor | np.ndarray, class_index: int | None, space: str) -> Path:
    """An inversion result as .npz: `w` [1, num_ws, w_dim] (what `G.synthesis` takes), `class` (-1: none), `space`.
    `ws` is a tensor or array of [1, num_ws, w_dim] or [num_ws, w_dim]."""
    path = Path(path)
    if path.suffix != ".npz":
        raise StyleGANError(f"{path}: latents are written as .npz; use that suffix")
    with atomic_path(path) as tmp_path, tmp_path.open("wb") as f:
        w = torch.as_tensor(ws).detach().cpu().numpy().astype(np.float32)
        w = w[None] if w.ndim == 2 else w
        np.savez(
            f, w=w, **{"class": np.int64(-1 if class_index is None else class_index)}, space=np.str_(space)
        )
    return path


def load_latent(path: str | Path, G: Generator) -> tuple[torch.Tensor, int | None]:
    """(ws [1, num_ws, w_dim], class or None) from a .npz written by `save_latent` or the official projectors
    (`w` of shape [1, num_ws, w_dim], [1, 1, w_dim] or [1, w_dim]).

    Only the `w` and `class` members are read, each bounded by the size this model's latent can have, and
    checked: float values, all finite, a shape that fits the model, a class index within its classes."""
    path = Path(path)
    arrays = read_npz(path, {"w": G.num_ws * G.w_dim * 8, "class": 8}, "latent")
    w = arrays.get("w")
    if w is None:
        raise StyleGANError(f"{path}: not a latent .npz: it has no `w` array")
    if w.dtype.kind != "f":
        raise StyleGANError(f"{path}: `w` holds {w.dtype} values, not floats")
    if w.ndim == 0 or w.shape[-1] != G.w_dim or w.size // G.w_dim not in (1, G.num_ws):
        raise StyleGANError(
            f"{path}: `w` is {list(w.shape)}; this model takes [1, {G.num_ws}, {G.w_dim}] (or one w of {G.w_dim})"
        )
    if not np.isfinite(w).all():
        raise StyleGANError(f"{path}: `w` holds NaN or infinite values")
    class_index = _latent_class(arrays.get("class"), path, G.c_dim)
    w = torch.from_numpy(w.astype(np.float32)).reshape(-1, G.w_dim)
    return w.expand(G.num_ws, -1).unsqueeze(0).clone(), class_index


def _latent_class(value: np.ndarray | None, path: Path, c_dim: int) -> int | None:
    """A latent file's class member: absent or -1 is none, else an integer index of one of the model's classes."""
    if value is None:
        return None
    if value.dtype.kind not in "iu" or value.size != 1:
        raise StyleGANError(f"{path}: `class` must be one integer, got {value.dtype} {list(value.shape)}")
    index = int(value.reshape(-1)[0])
    if index == -1:
        return None
    if not c_dim or not 0 <= index < c_dim:
        raise StyleGANError(
            f"{path}: class {index} is not one of this model's {c_dim} classes"
            if c_dim
            else f"{path}: names class {index}, but this model has no classes"
        )
    return index
