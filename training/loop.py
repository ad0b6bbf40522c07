"""The trainer: StyleGAN-XL's networks built from the options, its training phases, EMA, snapshots and exact
resume; one process per device.

Under torchrun every process trains on its share of each batch and the gradients are averaged across processes
(NCCL on GPUs, gloo on CPU). Every random draw of a step comes from `training.sampler`, seeded by (seed, step,
rank), so a run resumed from its saved state continues exactly as if it had not stopped. The options are
`training.options`; what a run logs and the names of its files are `training.reporting`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from stylegan.devices import checked_device, cpu_has_bfloat16
from stylegan.errors import StyleGANError
from stylegan.images import from_uint8, make_grid, save_image, to_uint8
from stylegan.io.atomic import remove_stale_temporaries
from stylegan.io.checkpoint import load_checkpoint, save_checkpoint
from stylegan.networks.generator import Generator
from stylegan.networks.growth import freeze_stem, grow
from stylegan.networks.specs import stem_specs, synthesis_config
from stylegan.pretrained import create_timm_model
from training.class_embedding import EMBEDDING_NETWORK, class_embeddings, standardize
from training.dataset import ImageDataset
from training.discriminator import ProjectedDiscriminator
from training.feature_networks import ProjectedFeatures
from training.fid import FIDTracker, default_fid_network
from training.loss import ClassifierGuidance, LossOptions, StyleGANXLLoss
from training.options import TrainingOptions
from training.reporting import Progress, RunLog, latest_snapshot, snapshot_name, tick_row
from training.sampler import StepSampler, step_generator
from training.snapshot import load_training_state, read_training_info, save_training_state

STATE_FILE = "training-state.safetensors"
# What a resumed run may change; the rest is the run's own.
RESUME_CHANGEABLE = ("kimg", "outdir", "workers", "tick_kimg", "snap_ticks", "device", "glr", "dlr")
GUIDANCE_NETWORK = "deit_small_distilled_patch16_224"
GUIDANCE_MIN_RESOLUTION = 32
STEM_MIN_RESOLUTION = 16


class TrainingDivergedError(StyleGANError):
    pass


def stem_config(options: TrainingOptions, resolution: int, channels: int, c_dim: int) -> dict:
    input_spec, layers = stem_specs(
        resolution,
        channels,
        channel_base=options.cbase,
        channel_max=options.cmax,
        num_layers=options.syn_layers,
    )
    return dict(
        z_dim=options.z_dim,
        c_dim=c_dim,
        w_dim=options.w_dim,
        img_resolution=resolution,
        img_channels=channels,
        architecture="stylegan-xl",
        mapping_kwargs=dict(num_layers=2, class_embedding="table", embed_dim=320),
        synthesis_kwargs=synthesis_config(
            input_spec, layers, dict(channel_base=options.cbase, channel_max=options.cmax)
        ),
    )


def _last_channels(channel_base: float, resolution: int) -> int:
    """Channels of the last layers before ToRGB (cutoff resolution / 2), as `stylegan.networks.specs` rounds them."""
    return round(channel_base / resolution)


def _check_stem_data(options: TrainingOptions, dataset: ImageDataset) -> None:
    """A new stem: images large enough, and a --cbase that leaves its last layers at least one channel."""
    resolution = dataset.resolution
    if resolution < STEM_MIN_RESOLUTION:
        raise StyleGANError(
            f"{options.data}: a stem needs images of at least {STEM_MIN_RESOLUTION}x{STEM_MIN_RESOLUTION}"
        )
    if _last_channels(options.cbase, resolution) < 1:
        raise StyleGANError(
            f"--cbase {options.cbase}: must be at least {resolution // 2 + 1} for {resolution}x{resolution} images "
            f"(the last layers get cbase / {resolution} channels, rounded)"
        )


def _check_stem(stem: Generator, options: TrainingOptions, dataset: ImageDataset, c_dim: int) -> None:
    wanted = stem.img_resolution * options.up_factor
    if wanted != dataset.resolution:
        raise StyleGANError(
            f"the stem makes {stem.img_resolution}x{stem.img_resolution} images, so the next stage is "
            f"{wanted}x{wanted}, but {options.data} holds {dataset.resolution}x{dataset.resolution} images"
        )
    if stem.c_dim != c_dim:
        raise StyleGANError(f"the stem has {stem.c_dim} classes but the dataset has {c_dim}")
    layout = stem.config.get("synthesis_kwargs", {}).get("layout") or {}
    channel_base = layout.get("channel_base", 32768)
    if _last_channels(channel_base, wanted) < 1:
        raise StyleGANError(
            f"the stem's channel base ({channel_base}) leaves the {wanted}x{wanted} layers without channels: "
            f"grow it by a smaller --up-factor"
        )


def _lazy_regularisation_ratio(reg_interval: int) -> float:
    """How much of each step's learning rate and momentum a lazily regularised optimiser uses (StyleGAN2)."""
    return reg_interval / (reg_interval + 1)


def _describe_images(resolution: int, channels: int, classes: int) -> str:
    labels = f"{classes} classes" if classes else "no labels"
    return f"{resolution}x{resolution} images of {channels} channels, {labels}"


class Trainer:
    """Set up from options (or a saved state), then `run()`."""

    def __init__(
        self,
        options: TrainingOptions,
        log: Callable[[str], None] = print,
        resume: str | None = None,
        changed: Iterable[str]
        | None = None,  # on resume: the options the caller set (None: every changeable one)
    ):
        options.validate()  # made valid, but perhaps changed since
        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.log = log if self.rank == 0 else (lambda _line: None)
        self.outdir = Path(options.outdir)
        state_path = self._resume_path(resume)
        if state_path is not None:
            options = self._resumed_options(state_path, options, changed)
            if self.rank == 0:  # what a killed run was writing when it died
                for path in remove_stale_temporaries(state_path.parent):
                    self.log(f"removed {path.name}, left by an interrupted write")
        if options.fid_images and options.fid_network is None:
            options = dataclasses.replace(options, fid_network=default_fid_network())
        self.options = options
        self._check_batch()
        self.device = self._device()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            torch.distributed.init_process_group(backend, rank=self.rank, world_size=self.world)

        processes = f"{self.world} process" + ("es" if self.world > 1 else "")
        self.log(f"training on {processes} ({self.device}), batch {options.batch}, {self.batch_gpu} per pass")
        self.dataset = ImageDataset(options.data, use_labels=options.cond is not False, xflip=options.mirror)
        if options.cond and self.dataset.c_dim == 0:
            raise StyleGANError(f"{options.data}: --cond needs labels (dataset.json or class subfolders)")
        self.c_dim = self.dataset.c_dim
        if state_path is not None:
            self._check_resumed_data(state_path)
        self.superres = options.stem is not None
        self.G, self.metadata = self._generator(state_path)
        self.G_ema = copy.deepcopy(self.G).eval()
        with torch.random.fork_rng():
            torch.manual_seed(options.seed)
            self.D = ProjectedDiscriminator(
                c_dim=self.c_dim,
                backbones=options.backbones,
                pretrained=options.pretrained,
                cout=options.d_cout,
                head_width_max=options.d_width_max,
                input_size=options.d_input_size,
            ).to(self.device)
        if not options.pretrained:
            self.log("feature networks and classifier are randomly initialised (--no-pretrained)")
        self.G_params = freeze_stem(self.G) if self.superres else list(self.G.parameters())
        self.G.requires_grad_(False)
        self.opt_G = self._adam(self.G_params, options.glr, options.g_reg_interval)
        self.opt_D = self._adam(self.D.trainable_parameters(), options.dlr, options.d_reg_interval)
        self.loss = StyleGANXLLoss(self.G, self.D, self._loss_options(), self._guidance(), self._amp())
        self.progress = Progress()
        if state_path is not None:
            self._load_state(state_path)
        elif self.c_dim:
            self._init_class_embeddings()
        self._broadcast_parameters()

    # -- setup -------------------------------------------------------------------------------------------------

    def _resume_path(self, resume: str | None) -> Path | None:
        if resume is None:
            if (self.outdir / STATE_FILE).exists():
                raise StyleGANError(
                    f"{self.outdir} already holds a run: resume it with --resume {self.outdir}"
                )
            return None
        path = Path(resume)
        path = path / STATE_FILE if path.is_dir() else path
        if not path.is_file():
            raise StyleGANError(f"{resume}: no training state to resume ({STATE_FILE})")
        return path

    def _resumed_options(
        self, path: Path, given: TrainingOptions, changed: Iterable[str] | None
    ) -> TrainingOptions:
        """The run's own options; only the length, the learning rates, the output folder, the bookkeeping and the
        place of the data (when the dataset moved: `_check_resumed_data` checks that it fits) may change, and of
        those only the ones in `changed` (all of them when it is None) are taken from `given`."""
        saved = TrainingOptions(**read_training_info(path)["options"])
        changeable = [name for name in RESUME_CHANGEABLE if changed is None or name in changed]
        options = dataclasses.replace(saved, **{name: getattr(given, name) for name in changeable})
        if given.data is not None and given.data != saved.data:
            self.log(f"reading the images from {given.data} (the run started on {saved.data})")
            options.data = given.data
        return options

    def _check_resumed_data(self, path: Path) -> None:
        """The images must fit the resumed generator: same resolution, channels and number of classes."""
        config, dataset = read_training_info(path)["G_config"], self.dataset
        wanted = (config["img_resolution"], config["img_channels"], config["c_dim"])
        found = (dataset.resolution, dataset.channels, dataset.c_dim)
        if found != wanted:
            raise StyleGANError(
                f"{self.options.data} holds {_describe_images(*found)}, "
                f"but the run in {path.parent} trains on {_describe_images(*wanted)}"
            )

    def _check_batch(self) -> None:
        options = self.options
        if options.batch % self.world:
            raise StyleGANError(f"--batch {options.batch} must be a multiple of the {self.world} processes")
        per_rank = options.batch // self.world
        self.batch_gpu = options.batch_gpu or per_rank
        if per_rank % self.batch_gpu:
            raise StyleGANError(
                f"--batch-gpu {self.batch_gpu} must divide the batch per process ({per_rank})"
            )

    def _device(self) -> torch.device:
        """--device, else this process's GPU (LOCAL_RANK under torchrun), else the CPU (bare "cuda": that GPU)."""
        name = self.options.device or ("cuda" if torch.cuda.is_available() else "cpu")
        device = checked_device(name, "--device")
        if device.type != "cuda":
            return device
        index = int(os.environ.get("LOCAL_RANK", "0")) if device.index is None else device.index
        if index >= torch.cuda.device_count():  # LOCAL_RANK past the GPUs
            raise StyleGANError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)

    def _generator(self, state_path: Path | None) -> tuple[Generator, dict]:
        options, dataset = self.options, self.dataset
        metadata = {"class_names": dataset.class_names} if dataset.class_names else {}
        if state_path is not None:
            config = read_training_info(state_path)["G_config"]
            G = Generator(**config)
        elif self.superres:
            stem = load_checkpoint(options.stem)
            _check_stem(stem, options, dataset, self.c_dim)
            G = grow(stem, options.head_layers, options.up_factor, seed=options.seed)
            metadata = {**stem.metadata, **metadata}
        else:
            _check_stem_data(options, dataset)
            with torch.random.fork_rng():
                torch.manual_seed(options.seed)
                G = Generator(**stem_config(options, dataset.resolution, dataset.channels, self.c_dim))
        return G.train().to(self.device), metadata

    def _adam(self, params, lr: float, reg_interval: int) -> torch.optim.Adam:
        ratio = _lazy_regularisation_ratio(reg_interval)
        return torch.optim.Adam(params, lr=lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8)

    def _loss_options(self) -> LossOptions:
        options = self.options
        guidance = self.c_dim > 0 and self.superres and self.dataset.resolution >= GUIDANCE_MIN_RESOLUTION
        return LossOptions(
            blur_sigma=options.blur_sigma,
            blur_fade_kimg=options.blur_fade_kimg,
            cls_weight=options.cls_weight if options.cls_weight is not None else (8.0 if guidance else 0.0),
            pl_weight=options.pl_weight if options.pl_weight is not None else (0.0 if self.superres else 2.0),
            pl_start_kimg=options.pl_start_kimg,
            pl_interval=options.g_reg_interval,
        )

    def _guidance(self) -> ClassifierGuidance | None:
        if not self._loss_options().cls_weight or not self.c_dim:
            return None
        model = create_timm_model(GUIDANCE_NETWORK, self.options.pretrained)
        if self.options.pretrained and model.num_classes != self.c_dim:
            raise StyleGANError(
                f"classifier guidance uses {GUIDANCE_NETWORK}'s {model.num_classes} ImageNet classes, but the "
                f"dataset has {self.c_dim}: turn it off with --cls-weight 0"
            )
        if not self.options.pretrained:
            model.reset_classifier(self.c_dim)
        return ClassifierGuidance(model).to(self.device)

    def _amp(self) -> bool:
        return self.options.amp and (self.device.type == "cuda" or cpu_has_bfloat16())

    def _init_class_embeddings(self) -> None:
        features = dict(self.D.feature_networks).get(EMBEDDING_NETWORK)
        if features is None:
            with torch.random.fork_rng():
                torch.manual_seed(self.options.seed)
                features = ProjectedFeatures(EMBEDDING_NETWORK, self.options.pretrained).to(self.device)
        self.log(f"class embeddings: mean {EMBEDDING_NETWORK} features of each of the {self.c_dim} classes")
        means = class_embeddings(self.dataset, features, self.device, workers=self.options.workers)
        embeddings = standardize(means).to(self.device)  # what the classes share taken out, unit RMS
        self.D.set_class_embeddings(embeddings)
        if not self.superres:  # a grown generator keeps its stem's trained embedding
            with torch.no_grad():
                self.G.mapping.embed.weight[: self.c_dim].copy_(embeddings)
            self.G_ema.load_state_dict(self.G.state_dict())

    def _broadcast_parameters(self) -> None:
        if self.world == 1:
            return
        for module in (self.G, self.G_ema, self.D):
            for tensor in list(module.parameters()) + list(module.buffers()):
                torch.distributed.broadcast(tensor.data, src=0)

    # -- state -------------------------------------------------------------------------------------------------

    def _state_modules(self) -> dict:
        return {"G": self.G, "G_ema": self.G_ema, "D": self.D}

    def _save_state(self) -> Path:
        info = dict(
            options=self.options.to_dict(),
            G_config=self.G.config,
            D_config=self.D.config,
            progress=dataclasses.asdict(self.progress),
            metadata=self.metadata,
        )
        return save_training_state(
            self.outdir / STATE_FILE,
            self._state_modules(),
            {"opt_G": self.opt_G, "opt_D": self.opt_D},
            {"pl_mean": self.loss.pl_mean},
            info,
        )

    def _load_state(self, path: Path) -> None:
        extra = load_training_state(path, self._state_modules(), {"opt_G": self.opt_G, "opt_D": self.opt_D})
        self.loss.pl_mean.copy_(extra["pl_mean"])
        # The optimisers' saved state holds the run's learning rates; a resume may lower them (to fine-tune).
        for optimizer, lr, interval in (
            (self.opt_G, self.options.glr, self.options.g_reg_interval),
            (self.opt_D, self.options.dlr, self.options.d_reg_interval),
        ):
            for group in optimizer.param_groups:
                group["lr"] = lr * _lazy_regularisation_ratio(interval)
        info = read_training_info(path)
        self.progress = Progress(**info["progress"])
        self.metadata = info["metadata"]
        self.log(f"resumed {path} at {self.progress.cur_nimg / 1000:.1f} kimg")

    # -- one step ----------------------------------------------------------------------------------------------

    def _phase(self, params: list[torch.nn.Parameter], optimizer, compute: Callable[[int], tuple]) -> dict:
        """Accumulate the gradients of `compute(chunk)` over the batch chunks, average over processes, step."""
        optimizer.zero_grad(set_to_none=True)
        for param in params:
            param.requires_grad_(True)
        stats: dict[str, float] = {}
        for chunk in range(self.chunks):
            loss, chunk_stats = compute(chunk)
            if not math.isfinite(loss.item()):
                raise TrainingDivergedError(f"a loss became {loss.item()} ({', '.join(chunk_stats)})")
            loss.backward()
            for key, value in chunk_stats.items():
                stats[key] = stats.get(key, 0.0) + value / self.chunks
        for param in params:
            param.requires_grad_(False)
        with_grad = [p for p in params if p.grad is not None]
        if with_grad:
            flat = torch.cat([p.grad.flatten() for p in with_grad])
            if self.world > 1:
                torch.distributed.all_reduce(flat)
                flat /= self.world
            torch.nan_to_num(flat, nan=0, posinf=1e5, neginf=-1e5, out=flat)
            for param, grad in zip(with_grad, flat.split([p.numel() for p in with_grad]), strict=True):
                param.grad = grad.view_as(param)
        optimizer.step()
        return stats

    def _latents(self, generator: torch.Generator) -> tuple[list, list]:
        per_rank = self.options.batch // self.world
        z = torch.randn([per_rank, self.G.z_dim], generator=generator)
        c = self.dataset.random_labels(per_rank, generator)
        return z.to(self.device).split(self.batch_gpu), c.to(self.device).split(self.batch_gpu)

    def train_step(self, real: torch.Tensor, real_c: torch.Tensor) -> dict:
        progress, options = self.progress, self.options
        cur_nimg = progress.cur_nimg
        real = from_uint8(real.to(self.device)).split(self.batch_gpu)
        real_c = real_c.to(self.device).split(self.batch_gpu)
        self.chunks = len(real)
        seed_of = lambda stream: step_generator(options.seed, progress.batch_idx, self.rank, stream)  # noqa: E731
        stats = {}

        aug = seed_of(0)
        z, c = self._latents(seed_of(1))
        stats.update(
            self._phase(
                self.G_params, self.opt_G, lambda i: self.loss.generator_main(z[i], c[i], cur_nimg, aug)
            )
        )
        if progress.batch_idx % options.g_reg_interval == 0 and self.loss.path_length_active(cur_nimg):
            z, c = self._latents(seed_of(2))
            noise = seed_of(3)
            stats.update(
                self._phase(
                    self.G_params, self.opt_G, lambda i: self.loss.generator_path_length(z[i], c[i], noise)
                )
            )
        z, c = self._latents(seed_of(4))
        stats.update(
            self._phase(
                self.D.trainable_parameters(),
                self.opt_D,
                lambda i: self.loss.discriminator_main(real[i], real_c[i], z[i], c[i], cur_nimg, aug),
            )
        )
        self._update_ema()
        progress.cur_nimg += options.batch
        progress.batch_idx += 1
        return stats

    def _update_ema(self) -> None:
        options = self.options
        ema_nimg = (options.ema_kimg if options.ema_kimg is not None else options.batch * 10 / 32) * 1000
        if options.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.progress.cur_nimg * options.ema_rampup)
        beta = 0.5 ** (options.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
                b_ema.copy_(b)

    # -- the loop ----------------------------------------------------------------------------------------------

    def _loader(self) -> Iterator:
        sampler = StepSampler(
            len(self.dataset),
            self.options.batch,
            self.rank,
            self.world,
            self.options.seed,
            self.progress.batch_idx,
        )
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.options.batch // self.world,
            sampler=sampler,
            num_workers=self.options.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=2 if self.options.workers else None,
        )
        return iter(loader)

    def run(self) -> Path:
        """Train until `kimg`, or until FID stops improving; return the last network snapshot."""
        options, progress = self.options, self.progress
        self.outdir.mkdir(parents=True, exist_ok=True)
        total_nimg = int(options.kimg * 1000)
        fid = None
        if options.fid_images and self.rank == 0:
            fid = FIDTracker(
                self.dataset, self.device, options.fid_network, options.fid_images, options.fid_patience
            )
            fid.history = list(progress.fid_history)
            self.log(
                f"{fid.distance_name} at each snapshot: Fréchet distance of pretrained {fid.network_name} "
                f"features of {fid.num_images} images"
            )
        run_log = RunLog(self.outdir, self.log, active=self.rank == 0)
        if self.rank == 0:
            self._save_reals()
        run_log.write_json("training_options.json", options.to_dict())
        snapshot = None
        tick_stats: dict[str, list[float]] = {}
        tick_time = time.perf_counter()
        batches = self._loader()
        stop = progress.cur_nimg >= total_nimg
        while not stop:
            real, real_c = next(batches)
            try:
                step_stats = self.train_step(real, real_c)
            except TrainingDivergedError as error:
                last = snapshot or latest_snapshot(self.outdir)
                kept = f"the last good snapshot is {last}" if last else "no snapshot was written yet"
                raise TrainingDivergedError(
                    f"training stopped at {progress.cur_nimg / 1000:.1f} kimg: {error}; {kept}"
                ) from None
            for key, value in step_stats.items():
                tick_stats.setdefault(key, []).append(value)
            done = progress.cur_nimg >= total_nimg
            if not done and progress.cur_nimg < progress.tick_start_nimg + options.tick_kimg * 1000:
                continue
            progress.tick += 1
            elapsed = time.perf_counter() - tick_time
            row = tick_row(progress, tick_stats, elapsed, total_nimg)
            tick_stats, tick_time = {}, time.perf_counter()
            progress.tick_start_nimg = progress.cur_nimg
            if done or progress.tick % options.snap_ticks == 0:
                snapshot = self._snapshot()
                if fid is not None:
                    row[fid.distance_name] = fid.evaluate(self.G_ema)
                    progress.fid_history = list(fid.history)
                    if fid.stopped_improving:
                        self.log(
                            f"{fid.distance_name} has not improved for {options.fid_patience} snapshots: "
                            "stage done"
                        )
                        done = True
                done = self._decided_by_rank0(done)  # only rank 0 measures the distance
                if self.rank == 0:
                    self._save_state()
            run_log.report(row)
            stop = done
        run_log.close()  # TensorBoard flushes every tick, so a run that stops early loses nothing
        return snapshot or latest_snapshot(self.outdir)

    def _decided_by_rank0(self, flag: bool) -> bool:
        """Rank 0's `flag` on every process, so that all of them leave the loop at the same step."""
        if self.world == 1:
            return flag
        tensor = torch.tensor([int(flag)], device=self.device)
        torch.distributed.broadcast(tensor, src=0)
        return bool(tensor.item())

    # -- outputs -----------------------------------------------------------------------------------------------

    def _grid_latents(self) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, int]]:
        """Fixed seeds: one row per class (up to 8 classes, spread over the range), 8 columns."""
        generator = torch.Generator().manual_seed(self.options.seed)
        columns = 8
        if self.c_dim:
            classes = (
                sorted({round(i * (self.c_dim - 1) / 7) for i in range(8)})
                if self.c_dim > 8
                else range(self.c_dim)
            )
            classes = list(classes)
            c = torch.eye(self.c_dim)[[k for k in classes for _ in range(columns)]]
            rows = len(classes)
        else:
            c, rows = None, 4
        z = torch.randn([rows * columns, self.G.z_dim], generator=generator)
        return z, c, (columns, rows)

    def _save_reals(self) -> None:
        if (self.outdir / "reals.png").exists():
            return
        count = min(len(self.dataset), 32)
        images = from_uint8(torch.stack([self.dataset[i][0] for i in range(count)]))
        rows = math.ceil(count / 8)
        save_image(make_grid(to_uint8(images), min(count, 8), rows), self.outdir / "reals.png")

    def _snapshot(self) -> Path | None:
        if self.rank != 0:
            return None
        kimg = snapshot_name(self.progress.cur_nimg)
        z, c, (columns, rows) = self._grid_latents()
        with torch.no_grad():
            images = []
            for index in range(0, z.shape[0], self.batch_gpu):
                zi = z[index : index + self.batch_gpu].to(self.device)
                ci = None if c is None else c[index : index + self.batch_gpu].to(self.device)
                images.append(self.G_ema(zi, ci, noise_mode="const").cpu())
        save_image(make_grid(to_uint8(torch.cat(images)), columns, rows), self.outdir / f"fakes{kimg}.png")
        facts = dict(
            kimg=self.progress.cur_nimg / 1000, dataset=str(self.options.data), stage_of=self.options.stem
        )
        metadata = {**self.metadata, "training": facts}
        return save_checkpoint(self.G_ema, self.outdir / f"network-snapshot-{kimg}.safetensors", **metadata)
