"""A view: everything that decides the picture the visualizer shows, as a typed `ViewArgs`, and `render_view`,
the pure function that draws it with a given generator. `stylegan generate --session` and the window both
call it, so a saved session renders the same everywhere. The visualizer's renderer only adds caches, a worker
thread and long jobs (inversion) around it.

Sessions are JSON files of a view plus the panels' own state; arrays are stored as {"ndarray": nested lists}.
Loading checks every field (type, finite numbers, ranges) and names the field that is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.images import to_uint8
from stylegan.inversion import INVERSION_SPACES
from stylegan.io.atomic import atomic_path
from stylegan.io.untrusted import ContentError, escape, excerpt, parse_json
from stylegan.latent import (
    INTERPOLATION_SPACES,
    MAX_SEED,
    Endpoint,
    interpolate,
    one_hot,
    seed_classes,
    seed_grid_weights,
    style_mix,
    synthesize,
    truncate,
    z_from_seeds,
)
from stylegan.networks.generator import Generator
from stylegan.networks.layers import NOISE_MODES

DEFAULT_MODEL = "default"  # the bundled trained model; the random presets stay available by name
FFT_BETA = 8.0  # Kaiser window of the layer spectrum view
FFT_RANGE_DB = 50.0
SESSION_FORMAT = "stylegan-studio-session"
MAX_SESSION_BYTES = 64 << 20  # a session holds a few latents: megabytes at most
MAX_JSON_DEPTH = 32  # sessions nest four levels; anything deeper is not one of ours


@dataclass
class InterpolationEnd:
    """One end of the interpolation: a seed (with its class, or the seed's own draw) or a given w."""

    seed: int = 0
    class_index: int | None = None
    ws: np.ndarray | None = None  # [num_ws, w_dim]


@dataclass
class InversionJob:
    """An inversion the renderer runs a few steps per frame. `paused` and `run` do not restart it."""

    target: str = ""
    space: str = "w+"
    steps: int = 300
    pti_steps: int = 0
    seed: int = 0
    class_spec: str | int | None = None  # None or 'auto': chosen from the target; else a class number or name
    run: int = 0  # a new number starts the same settings again
    paused: bool = False

    def restart_key(self) -> tuple:
        """What, when changed, makes a new run (the pause flag is not part of it)."""
        return (self.target, self.space, self.steps, self.pti_steps, self.seed, self.class_spec, self.run)


@dataclass
class ViewArgs:
    """Every setting of the picture; the panels write these and sessions save them."""

    model: str = DEFAULT_MODEL
    device: str = "cpu"
    fp16: bool = False  # the layers the model marks fp16 run in float16 (CUDA only)
    preview_bf16: bool = False  # on the CPU, synthesis under bfloat16 autocast (see render_view)
    seed_x: float = 0.0  # position on the 2-D seed grid: integer points are seeds
    seed_y: float = 0.0
    class_index: int | None = None  # None: the seed's own draw, as the command line does
    psi: float = 1.0
    cutoff: int | None = None
    noise_mode: str = "const"
    noise_seed: int = 0
    latent_ws: np.ndarray | None = None  # [num_ws, w_dim]: a latent given directly (an inversion result)
    mix_enabled: bool = False
    mix_seed: int = 1
    mix_class: int | None = None
    mix_layers: list[int] = field(default_factory=list)
    interp_enabled: bool = False
    interp_a: InterpolationEnd = field(default_factory=InterpolationEnd)
    interp_b: InterpolationEnd = field(default_factory=lambda: InterpolationEnd(seed=1))
    interp_t: float = 0.0
    interp_space: str = "w"
    translate_x: float = 0.0  # input transform of alias-free models (StyleGAN3 / StyleGAN-XL)
    translate_y: float = 0.0
    rotate: float = 0.0  # radians
    layer: str | None = None  # the synthesis layer to show instead of the output
    channel: int = 0  # first channel shown
    rgb: bool = True  # three channels as RGB, else one channel as grey
    normalize: bool = True
    brightness_db: float = 0.0
    fft: bool = False
    inversion: InversionJob | None = None

    def validate(self) -> ViewArgs:
        """Check every field on its own (types, finite numbers, ranges); `check_view` checks them against a G."""
        _check_fields(self, "")
        _choice("noise_mode", self.noise_mode, NOISE_MODES)
        _choice("interp_space", self.interp_space, INTERPOLATION_SPACES)
        for name in ("seed_x", "seed_y"):
            if abs(getattr(self, name)) > MAX_SEED:
                raise StyleGANError(f"{name} {getattr(self, name)} is off the seed grid (at most {MAX_SEED})")
        for name in ("noise_seed", "mix_seed", "interp_a.seed", "interp_b.seed"):
            _in_range(name, _get(self, name), 0, MAX_SEED)
        for name in ("class_index", "mix_class", "interp_a.class_index", "interp_b.class_index", "cutoff"):
            if _get(self, name) is not None:
                _in_range(name, _get(self, name), 0, None)
        _in_range("channel", self.channel, 0, None)
        for index, layer in enumerate(self.mix_layers):
            _in_range(f"mix_layers[{index}]", layer, 0, None)
        _in_range("interp_t", self.interp_t, -1e3, 1e3)
        if self.inversion is not None:
            job = self.inversion
            _choice("inversion.space", job.space, INVERSION_SPACES)
            _in_range("inversion.steps", job.steps, 1, 1_000_000)
            _in_range("inversion.pti_steps", job.pti_steps, 0, 1_000_000)
            _in_range("inversion.seed", job.seed, 0, MAX_SEED)
        return self

    def replace(self, **changes) -> ViewArgs:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        return _encode(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: Any, where: str = "view") -> ViewArgs:
        """A view from its JSON form (missing fields take the defaults); unknown or ill-typed fields are errors
        naming the field."""
        return _decode_dataclass(cls, data, where).validate()


@dataclass
class ViewImage:
    """What `render_view` draws: the picture (uint8 [H, W, 3]) and the ws it came from."""

    image: np.ndarray
    ws: np.ndarray  # [num_ws, w_dim]
    synthesis_seconds: float
    layer_shape: list[int] | None = None  # with args.layer: the activations' [C, H, W] and dtype
    layer_dtype: str | None = None


SeedWs = Callable[[Generator, int, "int | None"], torch.Tensor]


def seed_ws(G: Generator, seed: int, class_index: int | None) -> torch.Tensor:
    """ws [num_ws, w_dim] of one seed at psi 1 (the renderer passes a cached version of this)."""
    classes = seed_classes(G, [seed], class_index)
    z = z_from_seeds([seed], G.z_dim, G.device)
    return G.mapping(z, one_hot(classes, G.c_dim, G.device))[0]


def blended_ws(G, seeds: list[tuple[int, float]], class_index, psi, cutoff, ws_of: SeedWs = seed_ws):
    """Truncated ws [num_ws, w_dim] of a weighted blend of seeds (weights summing to 1): the seeds' ws and their
    class centres are blended alike, so truncation pulls towards the blended centre."""
    ws = centre = 0
    for seed, weight in seeds:
        ws = ws + weight * ws_of(G, seed, class_index)
        classes = seed_classes(G, [seed], class_index)
        centre = centre + weight * G.mapping.class_centers(one_hot(classes, G.c_dim, G.device))[0]
    return truncate(ws[None], centre[None], psi, cutoff)[0]


def check_view(G: Generator, args: ViewArgs) -> None:
    """The checks that need the generator: classes, cutoff, mixed layers, latents, the shown layer."""
    for name in ("class_index", "mix_class", "interp_a.class_index", "interp_b.class_index"):
        value = _get(args, name)
        if value is None:
            continue
        if G.c_dim == 0:
            raise StyleGANError(f"{name}: this model is not class-conditional")
        if not 0 <= value < G.c_dim:
            raise StyleGANError(f"{name}: class {value} is out of range: 0 to {G.c_dim - 1}")
    if args.cutoff is not None and args.cutoff > G.num_ws:
        raise StyleGANError(f"cutoff {args.cutoff} is out of range: this model has {G.num_ws} ws")
    for index, layer in enumerate(args.mix_layers):
        if layer >= G.num_ws:
            raise StyleGANError(f"mix_layers[{index}]: layer {layer} is out of range: 0 to {G.num_ws - 1}")
    for name in ("latent_ws", "interp_a.ws", "interp_b.ws"):
        value = _get(args, name)
        if value is not None and tuple(np.shape(value)) != (G.num_ws, G.w_dim):
            raise StyleGANError(
                f"{name}: this latent has shape {list(np.shape(value))}; the model takes [{G.num_ws}, {G.w_dim}]"
            )
    if args.layer is not None and args.layer not in {row.name for row in G.layers()}:
        raise StyleGANError(f"layer: this model has no layer called {excerpt(args.layer)}")


def view_ws(G: Generator, args: ViewArgs, ws_of: SeedWs = seed_ws) -> torch.Tensor:
    """The view's ws [num_ws, w_dim]: a given w, an interpolation or a blend of grid seeds, then style mixing."""
    if args.interp_enabled:
        ends = [_endpoint(G, end) for end in (args.interp_a, args.interp_b)]
        ws = interpolate(G, *ends, [float(args.interp_t)], args.interp_space, args.psi, args.cutoff)[0]
    elif args.latent_ws is not None:
        ws = _as_ws(G, args.latent_ws)
    else:
        seeds = seed_grid_weights(args.seed_x, args.seed_y)
        ws = blended_ws(G, seeds, args.class_index, args.psi, args.cutoff, ws_of)
    if args.mix_enabled and args.mix_layers:
        other = blended_ws(G, [(args.mix_seed, 1.0)], args.mix_class, args.psi, args.cutoff, ws_of)
        ws = style_mix(ws[None], other[None], args.mix_layers)[0]
    return ws


def render_view(G: Generator, args: ViewArgs, ws_of: SeedWs = seed_ws) -> ViewImage:
    """Draw the view with G: its ws, the input transform, then the image or one layer's activations.

    With `preview_bf16` and G on the CPU the synthesis runs under bfloat16 autocast: the affines and modulated
    convolutions compute in bf16 (the Fourier input and the filters stay float32), at about 50 dB PSNR against
    float32. It is faster where the CPU has native bf16 (`stylegan.devices.cpu_has_bfloat16`), the more so the wider the layers
    (bench/bf16_preview.py); elsewhere autocast emulates bf16 and is slower.
    """
    args.validate()
    check_view(G, args)
    with torch.no_grad():
        ws = view_ws(G, args, ws_of)
        if G.is_alias_free:
            G.set_input_transform(args.rotate, args.translate_x, args.translate_y)
        capture = _LayerCapture(G, args.layer) if args.layer else None
        try:
            start = time.perf_counter()
            bf16 = args.preview_bf16 and G.device.type == "cpu"
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                image = synthesize(G, ws[None], args.noise_mode, args.noise_seed, force_fp32=not args.fp16)
            if G.device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        finally:
            if capture is not None:
                capture.remove()
        if capture is None:
            return ViewImage(to_uint8(image)[0], ws.cpu().numpy(), seconds)
        picture = activation_image(
            capture.output, args.channel, args.rgb, args.normalize, args.brightness_db, args.fft
        )
        shape, dtype = list(capture.output.shape[1:]), str(capture.output.dtype).replace("torch.", "")
        return ViewImage(picture, ws.cpu().numpy(), seconds, shape, dtype)


# -- layer activations ------------------------------------------------------------------------------------------


class _LayerCapture:
    """Keeps the output of one named synthesis layer during a forward pass."""

    def __init__(self, G, name: str):
        modules = dict(G.synthesis.named_modules())
        if name not in modules or not name:
            raise StyleGANError(f"layer: this model has no layer called {excerpt(name)}")
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


# -- sessions ---------------------------------------------------------------------------------------------------


def save_session(path: str | Path, args: ViewArgs, panels: dict | None = None) -> Path:
    """Write a view (and any panel state) as a session file, atomically."""
    path = Path(path)
    state = {"format": SESSION_FORMAT, "version": 1, "args": args.to_json(), "panels": _encode(panels or {})}
    with atomic_path(path) as tmp_path:
        tmp_path.write_text(json.dumps(state, indent=1), encoding="utf-8")
    return path


def load_session(path: str | Path) -> tuple[ViewArgs, dict]:
    """(the view, the panels' state) from a session file; every field is checked."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SESSION_BYTES:
            raise StyleGANError(f"{path}: {path.stat().st_size:,} bytes is too big for a session file")
        state = parse_json(path.read_text(encoding="utf-8"), str(path), MAX_JSON_DEPTH)
    except FileNotFoundError:
        raise StyleGANError(f"{path}: no such session file") from None
    except ContentError as error:  # not JSON, nested too deeply, NaN or huge numbers
        raise StyleGANError(f"not a session file: {error}") from None
    except (OSError, ValueError) as error:
        raise StyleGANError(f"{path}: not a session file ({escape(str(error))})") from None
    if not isinstance(state, dict) or state.get("format") != SESSION_FORMAT or state.get("version") != 1:
        raise StyleGANError(f"{path}: not a session file saved by the visualizer (format {SESSION_FORMAT} 1)")
    try:
        args = ViewArgs.from_json(state.get("args", {}), "args")
        panels = _decode(state.get("panels") or {})
    except StyleGANError as error:
        raise StyleGANError(f"{path}: {error}") from None
    if not isinstance(panels, dict):
        raise StyleGANError(f"{path}: panels must be a JSON object")
    return args, panels


# -- JSON form and checks ---------------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"ndarray": value.astype(np.float32).tolist()}
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"ndarray"}:
            return _array(value["ndarray"], "ndarray")
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        array = value.astype(np.float32)
    else:
        try:
            array = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise StyleGANError(f"{where}: not a numeric array") from None
    if array.ndim != 2 or array.size > 1 << 20:
        raise StyleGANError(f"{where}: a latent is [num_ws, w_dim]; got shape {list(array.shape)[:8]}")
    if not np.isfinite(array).all():
        raise StyleGANError(f"{where}: the latent has NaN or infinite values")
    return array


_NESTED = {"interp_a": InterpolationEnd, "interp_b": InterpolationEnd, "inversion": InversionJob}
_ARRAYS = {"latent_ws", "ws"}


def _decode_dataclass(cls, data: Any, where: str):
    if isinstance(data, cls):
        data = dataclasses.asdict(data)
    if not isinstance(data, dict):
        raise StyleGANError(f"{where}: expected a JSON object, not {type(data).__name__}")
    if cls is InversionJob and "class" in data:  # the inversion panel's older spelling
        data = {("class_spec" if key == "class" else key): item for key, item in data.items()}
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(key) for key in data if key not in names)
    if unknown:
        shown = ", ".join(excerpt(key) for key in unknown[:5])
        raise StyleGANError(f"{where}: unknown settings {shown} (a session from a newer version?)")
    values = {}
    for name, value in data.items():
        label = f"{where}.{name}" if where not in ("args", "view") else name
        if name in _NESTED and value is not None:
            values[name] = _decode_dataclass(_NESTED[name], value, label)
        elif name in _ARRAYS and value is not None:
            values[name] = _array(value["ndarray"] if isinstance(value, dict) and "ndarray" in value else value,
                                  label)  # fmt: skip
        else:
            values[name] = value
    return cls(**values)


def _check_fields(instance, prefix: str) -> None:
    """Every field against its annotation: type, finite numbers, bounded text; nested dataclasses too. Numbers
    are normalised to Python int and float."""
    for spec in dataclasses.fields(instance):
        label, value = prefix + spec.name, getattr(instance, spec.name)
        kind, optional = spec.type.split(" | ")[0], spec.type.endswith("| None")
        if value is None:
            if not optional:
                raise StyleGANError(f"{label}: a value is needed")
        elif dataclasses.is_dataclass(value):
            _check_fields(value, label + ".")
        elif kind == "np.ndarray":
            setattr(instance, spec.name, _array(value, label))
        elif kind == "list[int]":
            if not isinstance(value, list) or not all(_is_int(item) for item in value):
                raise StyleGANError(f"{label}: expected a list of whole numbers")
            setattr(instance, spec.name, [int(item) for item in value])
        else:
            kinds = [part for part in spec.type.split(" | ") if part != "None"]
            setattr(instance, spec.name, _checked_scalar(label, kinds, value))


def _checked_scalar(label: str, kinds: list[str], value):
    """The value as the first of `kinds` (bool, int, float, str) it is; else an error naming the field."""
    for kind in kinds:
        if kind == "bool" and isinstance(value, bool | np.bool_):
            return bool(value)
        if kind == "int" and _is_int(value):
            return int(value)
        if kind == "float" and (_is_int(value) or isinstance(value, float | np.floating)):
            if not math.isfinite(value):
                raise StyleGANError(f"{label}: {value} is not a finite number")
            return float(value)
        if kind == "str" and isinstance(value, str):
            if len(value) > 4096:
                raise StyleGANError(f"{label}: {len(value):,} characters is too long")
            return value
    raise StyleGANError(f"{label}: expected {' or '.join(kinds)}, not {excerpt(value)}")


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _get(instance, dotted: str):
    for part in dotted.split("."):
        instance = getattr(instance, part)
    return instance


def _in_range(name: str, value, low, high) -> None:
    if value < low or (high is not None and value > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise StyleGANError(f"{name}: {value} is out of range ({bound})")


def _choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise StyleGANError(f"{name}: {excerpt(value)} is not one of {', '.join(choices)}")


def _endpoint(G, end: InterpolationEnd) -> Endpoint:
    if end.ws is not None:
        return Endpoint(w=_as_ws(G, end.ws))
    return Endpoint(seed=end.seed, class_index=end.class_index)


def _as_ws(G, ws: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(ws, dtype=np.float32), device=G.device)
