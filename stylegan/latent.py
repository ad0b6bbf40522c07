"""Latents from a person's choices: seeds, classes, truncation, interpolation, keyframe paths, style mixing.

The visualizer and the command line both build their latents here, so an image made in one can be made again
in the other from the same numbers. Conventions follow the official tools, so a seed gives the same image as
there for the same weights: z = numpy.random.RandomState(seed).randn(z_dim), and a class-conditional model
given no class draws one with numpy.random.RandomState(seed).randint(c_dim).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from stylegan.errors import StyleGANError
from stylegan.io.archive import read_npy
from stylegan.networks.generator import Generator
from stylegan.networks.layers import NOISE_MODES

MAX_SEED = 2**32 - 1  # numpy.random.RandomState takes seeds in [0, 2**32)
EASINGS = ("linear", "cubic")
INTERPOLATION_SPACES = ("w", "z")
MAX_CENTROIDS = 1_000_000  # the official ImageNet release has 10 per class, 10,000 in all

# ---------------------------------------------------------------------------------------------------------------
# Lists of integers: seeds, classes, layers


def parse_int_list(text: str, what: str = "seed", maximum: int = MAX_SEED) -> list[int]:
    """'0-7,42' -> [0, 1, ..., 7, 42]: comma-separated integers and inclusive ranges, in the order given."""
    values: list[int] = []
    for item in str(text).replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if match is None:
            raise StyleGANError(f"bad {what} list {text!r}: write numbers and ranges like 0-7,42")
        first = int(match.group(1))
        last = first if match.group(2) is None else int(match.group(2))
        if last < first:
            raise StyleGANError(f"bad {what} range {item!r}: the first number must not exceed the second")
        if last > maximum:
            raise StyleGANError(f"{what} {last} is out of range: {what}s go from 0 to {maximum}")
        values.extend(range(first, last + 1))
    return values


# ---------------------------------------------------------------------------------------------------------------
# Seeds -> z


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The official convention: RandomState(seed).randn(z_dim), float64."""
    if not 0 <= seed <= MAX_SEED:
        raise StyleGANError(f"seed {seed} is out of range: seeds go from 0 to {MAX_SEED}")
    return np.random.RandomState(seed).randn(z_dim)


def z_from_seeds(seeds: Sequence[int], z_dim: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """[N, z_dim] float32, one row per seed."""
    rows = np.stack([z_from_seed(seed, z_dim) for seed in seeds]) if seeds else np.zeros([0, z_dim])
    return torch.from_numpy(rows).to(device=device, dtype=torch.float32)


def class_from_seed(seed: int, c_dim: int) -> int:
    """The class the official tools draw for a seed when a class-conditional model is given no class."""
    return int(np.random.RandomState(seed).randint(low=0, high=c_dim))


SEED_GRID_ROW = 100  # seeds on the visualizer's 2-D grid: seed = column + row * SEED_GRID_ROW


def seed_grid_weights(x: float, y: float) -> list[tuple[int, float]]:
    """The seeds around the point (x, y) of a 2-D grid of seeds, with bilinear weights summing to 1.

    Integer points give one seed (x + y * SEED_GRID_ROW) with weight 1; blending the seeds' ws with these
    weights moves continuously between neighbouring seeds, as when dragging on the visualizer's image.
    """
    x0, y0 = math.floor(x), math.floor(y)
    weights = []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        weight = (1 - abs(x - (x0 + dx))) * (1 - abs(y - (y0 + dy)))
        if weight > 0:
            weights.append((((x0 + dx) + (y0 + dy) * SEED_GRID_ROW) % (MAX_SEED + 1), weight))
    return weights


# ---------------------------------------------------------------------------------------------------------------
# Classes


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order (from torchvision's model metadata)."""
    text = resources.files("stylegan").joinpath("data/imagenet_classes.txt").read_text(encoding="utf-8")
    return tuple(text.splitlines())


def class_names(G: Generator) -> list[str] | None:
    """Names of G's classes: from its checkpoint metadata, else ImageNet's for 1000-class models, else None."""
    names = G.metadata.get("class_names")
    if names and len(names) == G.c_dim:
        return [str(name) for name in names]
    if G.c_dim == 1000:
        return list(imagenet_class_names())
    return None


def resolve_class(G: Generator, spec: int | str) -> int:
    """A class index from an index or a name; a name may be any unambiguous part of one, in any case."""
    if G.c_dim == 0:
        raise StyleGANError("this model is not class-conditional: leave out the class")
    text = str(spec).strip()
    if re.fullmatch(r"-?\d+", text):
        index = int(text)
        if not 0 <= index < G.c_dim:
            raise StyleGANError(f"class {index} is out of range: this model has classes 0 to {G.c_dim - 1}")
        return index
    names = class_names(G)
    if names is None:
        raise StyleGANError(
            f"this model has no class names; give the class as a number from 0 to {G.c_dim - 1}"
        )
    wanted = text.lower()
    exact = [index for index, name in enumerate(names) if name.lower() == wanted]
    matches = exact or [index for index, name in enumerate(names) if wanted in name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise StyleGANError(f"no class is called {text!r}; give a class number or part of a class name")
    listed = ", ".join(f"{index} {names[index]}" for index in matches[:8])
    more = f" and {len(matches) - 8} more" if len(matches) > 8 else ""
    raise StyleGANError(
        f"{text!r} matches several classes ({listed}{more}); be more precise or give the number"
    )


def parse_class_list(G: Generator, text: str) -> list[int]:
    """'1,1,3', '0-9' or 'tabby,golden retriever' -> class indices (numbers, ranges and names may be mixed)."""
    if G.c_dim == 0:
        raise StyleGANError("this model is not class-conditional: leave out the classes")
    classes: list[int] = []
    for item in str(text).split(","):
        if re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", item):
            classes.extend(parse_int_list(item, what="class", maximum=max(G.c_dim - 1, 0)))
        else:
            classes.append(resolve_class(G, item))
    return classes


def one_hot(classes: Sequence[int], c_dim: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """[N, c_dim] one-hot labels ([N, 0] for an unconditional model)."""
    labels = torch.zeros([len(classes), c_dim], device=device)
    if c_dim > 0:
        labels[torch.arange(len(classes)), torch.as_tensor(list(classes), dtype=torch.long)] = 1
    return labels


def seed_classes(G: Generator, seeds: Sequence[int], class_index: int | None) -> list[int]:
    """The class of each seed: the one given, or the official per-seed draw when none is given."""
    if G.c_dim == 0:
        if class_index is not None:
            raise StyleGANError("this model is not class-conditional: leave out the class")
        return [0] * len(seeds)
    return [class_from_seed(seed, G.c_dim) if class_index is None else class_index for seed in seeds]


# ---------------------------------------------------------------------------------------------------------------
# Mapping and truncation


def map_to_w(
    G: Generator,
    z: torch.Tensor,  # [N, z_dim]
    c: torch.Tensor,  # [N, c_dim] one-hot or class weights
    psi: float = 1.0,  # truncation: 1 = none, 0 = the centre
    cutoff: int | None = None,  # truncate only the first this many ws
    centroids: torch.Tensor | None = None,  # [K, w_dim]: multimodal truncation towards the nearest one
) -> torch.Tensor:
    """ws [N, num_ws, w_dim], truncated towards the class centre (or the nearest centroid)."""
    if centroids is None:
        return G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
    ws = G.mapping(z, c)
    return truncate(ws, nearest_centroids(ws[:, 0], centroids), psi, cutoff)


def truncate(ws: torch.Tensor, centers: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
    """Move ws [N, num_ws, w_dim] towards centers [N, w_dim] by 1 - psi, for the first `cutoff` ws."""
    ws = ws.clone()
    cutoff = ws.shape[1] if cutoff is None else cutoff
    ws[:, :cutoff] = centers.unsqueeze(1).lerp(ws[:, :cutoff], psi)
    return ws


def nearest_centroids(w: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """For each w [N, w_dim], the nearest (Euclidean) of the centroids [K, w_dim]."""
    return centroids[torch.cdist(w.to(centroids.dtype), centroids).argmin(dim=1)]


def load_centroids(path: str | Path, w_dim: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """A .npy of W centroids [K, w_dim], as the official ImageNet release has, or as `stylegan centroids` writes."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            array = read_npy(stream, path.stat().st_size, str(path), MAX_CENTROIDS * w_dim * 8)
    except FileNotFoundError:
        raise StyleGANError(f"{path}: no such centroids file") from None
    except OSError as error:
        raise StyleGANError(f"{path}: cannot be read ({error})") from None
    if array.ndim != 2 or array.shape[1] != w_dim or array.shape[0] == 0 or array.dtype.kind != "f":
        raise StyleGANError(
            f"{path}: centroids must be a float array [K, {w_dim}] for this model, got {array.dtype} {list(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise StyleGANError(f"{path}: the centroids hold NaN or infinite values")
    return torch.from_numpy(array.copy()).to(device=device, dtype=torch.float32)


def compute_centroids(
    G: Generator,
    num_samples: int,
    num_centroids: int,
    seed: int = 0,
    class_index: int | None = None,  # None: classes drawn uniformly
    iterations: int = 30,
    batch_size: int = 1024,
    progress: Callable[[int, int], None] | None = None,  # progress(done, total) over sampling + iterations
) -> np.ndarray:
    """Multimodal-truncation centroids [num_centroids, w_dim]: k-means (Lloyd) on w sampled at psi 1."""
    if not 0 < num_centroids <= num_samples:
        raise StyleGANError(
            f"need 0 < centroids <= samples, got {num_centroids} centroids from {num_samples} samples"
        )
    device = G.device
    rng = np.random.RandomState(seed)
    batches = math.ceil(num_samples / batch_size)
    total = batches + iterations
    ws = []
    for index in range(batches):
        n = min(batch_size, num_samples - index * batch_size)
        z = torch.from_numpy(rng.randn(n, G.z_dim)).to(device=device, dtype=torch.float32)
        classes = (
            [class_index] * n if class_index is not None else list(rng.randint(0, max(G.c_dim, 1), size=n))
        )
        with torch.no_grad():
            ws.append(G.mapping(z, one_hot(classes, G.c_dim, device))[:, 0])
        if progress:
            progress(index + 1, total)
    samples = torch.cat(ws)
    centers = samples[torch.from_numpy(rng.permutation(num_samples)[:num_centroids]).to(device)].clone()
    for iteration in range(iterations):
        assignment = torch.cat(
            [torch.cdist(chunk, centers).argmin(dim=1) for chunk in samples.split(batch_size)]
        )
        sums = torch.zeros_like(centers).index_add_(0, assignment, samples)
        counts = torch.bincount(assignment, minlength=num_centroids)
        empty = counts == 0
        new_centers = sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)
        # An empty cluster restarts at a random sample, so every centroid stays in use.
        refill = torch.from_numpy(rng.randint(0, num_samples, size=int(empty.sum()))).to(device)
        new_centers[empty] = samples[refill]
        converged = bool(torch.equal(new_centers, centers))
        centers = new_centers
        if progress:
            progress(batches + iteration + 1, total)
        if converged:
            break
    if progress:
        progress(total, total)
    return centers.cpu().numpy().astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Synthesis with a noise seed


def synthesize(
    G: Generator, ws: torch.Tensor, noise_mode: str = "const", noise_seed: int = 0, force_fp32: bool = False
) -> torch.Tensor:
    """ws -> images [N, C, H, W]. With noise_mode 'random' every image gets the noise drawn from `noise_seed`
    (one image at a time, so an image does not depend on what else is in the batch). On CUDA the layers the
    model marks fp16 run in float16 unless force_fp32."""
    if noise_mode not in NOISE_MODES:
        raise StyleGANError(f"unknown noise mode {noise_mode!r}: use one of {', '.join(NOISE_MODES)}")
    if noise_mode != "random" or not G.has_noise:
        return G.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32)
    devices = [ws.device] if ws.device.type == "cuda" else []
    images = []
    for w in ws.split(1):
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(noise_seed)
            images.append(G.synthesis(w, noise_mode="random", force_fp32=force_fp32))
    return torch.cat(images)


# ---------------------------------------------------------------------------------------------------------------
# Interpolation


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation of vectors a, b [..., D] at t (a scalar, or one per row [...]): the angle between
    their directions is split by t and the length interpolated linearly. Exactly a at t = 0 and b at t = 1;
    near-parallel vectors are interpolated linearly."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t.unsqueeze(-1) if t.ndim else t
    length_a, length_b = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    unit_a, unit_b = a / length_a, b / length_b
    angle = torch.arccos((unit_a * unit_b).sum(dim=-1, keepdim=True).clamp(-1, 1))
    sin_angle = torch.sin(angle)
    parallel = sin_angle < 1e-6
    safe_sin = torch.where(parallel, torch.ones_like(sin_angle), sin_angle)
    weight_a = torch.where(parallel, 1 - t, torch.sin((1 - t) * angle) / safe_sin)
    weight_b = torch.where(parallel, t, torch.sin(t * angle) / safe_sin)
    between = (weight_a * unit_a + weight_b * unit_b) * torch.lerp(length_a, length_b, t)
    return torch.where(t == 0, a, torch.where(t == 1, b, between))


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One end of an interpolation: a seed with its class, or a given w [num_ws, w_dim] (e.g. an inversion)."""

    seed: int | None = None
    class_index: int | None = None  # None on a class-conditional model: the seed's official draw
    w: torch.Tensor | None = None

    def __post_init__(self):
        if (self.seed is None) == (self.w is None):
            raise StyleGANError("an endpoint is either a seed (with its class) or a w, not both or neither")


def endpoint_latents(G: Generator, endpoints: Sequence[Endpoint]) -> tuple[torch.Tensor, torch.Tensor]:
    """z [K, z_dim] and class weights [K, c_dim] of seed endpoints (the mapping's inputs)."""
    device = G.device
    if any(end.w is not None for end in endpoints):
        raise StyleGANError("an endpoint given as a w has no z: interpolate in w")
    seeds = [end.seed for end in endpoints]
    classes = [seed_classes(G, [end.seed], end.class_index)[0] for end in endpoints]
    return z_from_seeds(seeds, G.z_dim, device), one_hot(classes, G.c_dim, device)


def endpoint_ws(
    G: Generator,
    endpoints: Sequence[Endpoint],
    psi: float = 1.0,
    cutoff: int | None = None,
    centroids: torch.Tensor | None = None,
) -> torch.Tensor:
    """ws [K, num_ws, w_dim] of the endpoints: seeds mapped with truncation, given ws as they are."""
    device = G.device
    rows = []
    for end in endpoints:
        if end.w is not None:
            rows.append(_as_ws(G, end.w).to(device))
        else:
            z, c = endpoint_latents(G, [end])
            rows.append(map_to_w(G, z, c, psi, cutoff, centroids)[0])
    return torch.stack(rows)


def _as_ws(G: Generator, w: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(w, dtype=torch.float32)
    if w.shape == (G.w_dim,):
        return w.unsqueeze(0).repeat(G.num_ws, 1)
    if w.shape != (G.num_ws, G.w_dim):
        raise StyleGANError(
            f"a w for this model has shape [{G.num_ws}, {G.w_dim}] or [{G.w_dim}], got {list(w.shape)}"
        )
    return w


# ---------------------------------------------------------------------------------------------------------------
# Keyframe paths


@dataclasses.dataclass(frozen=True)
class KeyframePath:
    """Where each frame of a path through keyframes lies: frame f is sum_j weights[f, j] * key[indices[f, j]].

    Linear easing has two terms per frame, (1 - s, s) on consecutive keyframes; cubic easing has four, the
    uniform Catmull-Rom spline, which passes through every keyframe with a continuous velocity. At a keyframe
    the weights are exactly one-hot, so keyframe frames equal the keyframe images.
    """

    indices: np.ndarray  # [F, 2 or 4] int64
    weights: np.ndarray  # [F, 2 or 4] float64
    easing: str

    @property
    def num_frames(self) -> int:
        return len(self.indices)

    def blend(self, keys: torch.Tensor, frames: slice | Sequence[int] = slice(None)) -> torch.Tensor:
        """Weighted sums of keys [K, ...] for the chosen frames: [F, ...]."""
        indices = torch.from_numpy(self.indices[frames]).to(keys.device)
        weights = torch.from_numpy(self.weights[frames]).to(device=keys.device, dtype=keys.dtype)
        weights = weights.reshape(weights.shape + (1,) * (keys.ndim - 1))
        return (weights * keys[indices]).sum(dim=1)

    def slerp(self, keys: torch.Tensor, frames: slice | Sequence[int] = slice(None)) -> torch.Tensor:
        """Spherical interpolation between consecutive keys [K, D] (linear easing only): [F, D]."""
        if self.easing != "linear":
            raise ValueError("slerp follows a linear path; cubic paths blend with weights")
        indices = torch.from_numpy(self.indices[frames]).to(keys.device)
        t = torch.from_numpy(self.weights[frames][:, 1]).to(device=keys.device, dtype=keys.dtype)
        return slerp(keys[indices[:, 0]], keys[indices[:, 1]], t)


def keyframe_path(
    num_keyframes: int, frames_per_transition: int, easing: str = "linear", loop: bool = False
) -> KeyframePath:
    """The frames of a path through `num_keyframes` keyframes.

    Without looping: (K - 1) * frames_per_transition + 1 frames, from the first keyframe to the last one.
    Looping: K * frames_per_transition frames, the last transition going back to the first keyframe, so the
    video repeats seamlessly (its next frame would be frame 0 again).
    """
    if easing not in EASINGS:
        raise StyleGANError(f"unknown easing {easing!r}: use one of {', '.join(EASINGS)}")
    if num_keyframes < 1:
        raise StyleGANError("a path needs at least one keyframe")
    if frames_per_transition < 1:
        raise StyleGANError("frames per transition must be at least 1")
    K = num_keyframes
    num_frames = K * frames_per_transition if loop else (K - 1) * frames_per_transition + 1
    frame = np.arange(num_frames)
    segment = frame // frames_per_transition
    s = (frame % frames_per_transition) / frames_per_transition

    def keyframe(offset: int) -> np.ndarray:
        index = segment + offset
        return index % K if loop else np.clip(index, 0, K - 1)

    if easing == "linear":
        indices = np.stack([keyframe(0), keyframe(1)], axis=1)
        weights = np.stack([1 - s, s], axis=1)
    else:
        indices = np.stack([keyframe(-1), keyframe(0), keyframe(1), keyframe(2)], axis=1)
        s2, s3 = s * s, s * s * s
        weights = 0.5 * np.stack(
            [-s3 + 2 * s2 - s, 3 * s3 - 5 * s2 + 2, -3 * s3 + 4 * s2 + s, s3 - s2], axis=1
        )
    return KeyframePath(indices.astype(np.int64), weights, easing)


def path_ws(
    G: Generator,
    endpoints: Sequence[Endpoint],
    path: KeyframePath,
    frames: slice | Sequence[int] = slice(None),
    space: str = "w",
    psi: float = 1.0,
    cutoff: int | None = None,
    centroids: torch.Tensor | None = None,
) -> torch.Tensor:
    """ws [F, num_ws, w_dim] of the chosen frames of a path through the keyframes `endpoints`.

    space 'w': the keyframes' (truncated) ws are blended. space 'z': z is interpolated (slerp, or the cubic
    spline, which the mapping's normalisation puts back on the sphere) and the class weights blended, then
    mapped and truncated, so with one seed and two classes the image moves through class space continuously.
    """
    if space not in INTERPOLATION_SPACES:
        raise StyleGANError(
            f"unknown interpolation space {space!r}: use one of {', '.join(INTERPOLATION_SPACES)}"
        )
    if space == "w":
        return path.blend(endpoint_ws(G, endpoints, psi, cutoff, centroids), frames)
    z_keys, c_keys = endpoint_latents(G, endpoints)
    z = path.slerp(z_keys, frames) if path.easing == "linear" else path.blend(z_keys, frames)
    c = path.blend(c_keys, frames)
    return map_to_w(G, z, c, psi, cutoff, centroids)


def interpolate(
    G: Generator,
    a: Endpoint,
    b: Endpoint,
    t: Sequence[float] | torch.Tensor,
    space: str = "w",
    psi: float = 1.0,
    cutoff: int | None = None,
    centroids: torch.Tensor | None = None,
) -> torch.Tensor:
    """ws [len(t), num_ws, w_dim] between a (t = 0) and b (t = 1); see `path_ws` for the spaces."""
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    path = KeyframePath(np.tile(np.array([[0, 1]]), (len(t), 1)), np.stack([1 - t, t], axis=1), "linear")
    return path_ws(G, [a, b], path, space=space, psi=psi, cutoff=cutoff, centroids=centroids)


# ---------------------------------------------------------------------------------------------------------------
# Style mixing


def layer_groups(num_ws: int) -> dict[str, list[int]]:
    """coarse / middle / fine ws by depth, in StyleGAN2's proportions (2/9, 2/9, 5/9 of the ws: 0-3, 4-7 and
    8-17 of 18 ws). For StyleGAN-XL's 40 ws: 0-8, 9-17, 18-39; for its 12 ws at 16x16: 0-2, 3-4, 5-11."""
    coarse_end = max(1, round(num_ws * 2 / 9))
    middle_end = min(max(coarse_end + 1, round(num_ws * 4 / 9)), num_ws - 1)
    return {
        "coarse": list(range(0, coarse_end)),
        "middle": list(range(coarse_end, middle_end)),
        "fine": list(range(middle_end, num_ws)),
        "all": list(range(num_ws)),
    }


def parse_layers(text: str, num_ws: int) -> list[int]:
    """'coarse', 'middle,fine', '0-5', '0,2,7-9' -> sorted w indices; groups and numbers may be combined."""
    groups = layer_groups(num_ws)
    chosen: set[int] = set()
    for item in str(text).replace(" ", "").lower().split(","):
        if item in groups:
            chosen.update(groups[item])
            continue
        if not re.fullmatch(r"\d+(-\d+)?", item):
            raise StyleGANError(
                f"unknown layer group {item!r}: use coarse, middle, fine, all, or w indices like 0-5 "
                f"(this model has {num_ws} ws: 0-{num_ws - 1})"
            )
        chosen.update(parse_int_list(item, what="layer", maximum=num_ws - 1))
    return sorted(chosen)


def invert_layers(layers: Sequence[int], num_ws: int) -> list[int]:
    """The ws not in `layers`."""
    return sorted(set(range(num_ws)) - set(layers))


def style_mix(ws: torch.Tensor, other: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """ws [..., num_ws, w_dim] with the chosen layers taken from other; the two broadcast against each other."""
    ws, other = torch.broadcast_tensors(ws, other)
    mixed = ws.clone()
    index = torch.as_tensor(list(layers), dtype=torch.long, device=ws.device)
    mixed[..., index, :] = other[..., index, :]
    return mixed
