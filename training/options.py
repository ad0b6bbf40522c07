"""The options of a training run, each written once, and their checks.

A field's metadata says everything the command line and the checks need to know about it:

    help      the text of `stylegan train --help`
    flag      the command-line spelling when it is not --field-name ("--tick"), or --no-field-name for a
              boolean that defaults to True (the flag turns it off); "--cond/--no-cond" for a pair
    min, max  bounds (inclusive; min_open: the minimum itself is refused)
    choices   the only values allowed
    path      the value names a file or folder
    cli       False: set from Python only, not on the command line

`stylegan train` makes its options from these fields (a list[str] becomes one comma-separated string), and
`TrainingOptions` refuses values outside them when it is made, with the checks that join several options, so a
bad option stops a run before anything is built. This module imports neither torch nor the trainer's modules,
so the command line builds and checks options before it loads the trainer. The defaults of the discriminator (backbones, input size) and
the FID networks are the ones of `training.discriminator`, `training.feature_networks` and `training.fid`
(tested).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from stylegan.errors import StyleGANError

# Seeds are unsigned 32-bit, as in the official code (the data order needs them below 2**63 / 100003).
SEED_MAX = 2**32 - 1
CRITICAL_LAYERS = 2  # critically sampled layers at the end of a stem or a stage (stylegan.networks.specs)
# The feature networks' coarsest stride: the cross-scale mixing adds maps that must halve exactly.
FEATURE_STRIDE = 32
VIT_INPUT_SIZE = 224  # ViT / DeiT feature networks take exactly this size
VIT_PREFIXES = ("vit_", "deit")


@dataclass
class TrainingOptions:
    data: str | None = field(
        metadata=dict(
            path=True,
            help="Training zip or folder (see `stylegan dataset`); on --resume: the run's own, or its new place.",
        )
    )
    outdir: str = field(
        metadata=dict(path=True, help="Folder for snapshots and logs (on --resume: the resumed folder).")
    )
    kimg: float = field(default=1000.0, metadata=dict(min=0, help="Train on this many thousand images."))
    batch: int = field(default=32, metadata=dict(min=1, help="Images per step, all processes together."))
    batch_gpu: int | None = field(
        default=None, metadata=dict(min=1, help="Images per forward pass (gradient accumulation).")
    )
    cond: bool | None = field(
        default=None,
        metadata=dict(
            flag="--cond/--no-cond", help="Class-conditional (default: when the dataset has labels)."
        ),
    )
    mirror: bool = field(default=False, metadata=dict(help="Add x-flipped copies of the images."))
    seed: int = field(default=0, metadata=dict(min=0, max=SEED_MAX))
    # The stem's generator (as stored in the generator: twice the official --cbase / --cmax). A stage takes
    # these from its stem.
    cbase: int = field(default=32768, metadata=dict(min=1, help="Stem capacity (official --cbase x 2)."))
    cmax: int = field(default=512, metadata=dict(min=1, help="Stem max channels (official --cmax x 2)."))
    # The cutoffs grow geometrically up to the critically sampled layers, so a stem or a head needs one more.
    syn_layers: int = field(default=10, metadata=dict(min=CRITICAL_LAYERS + 1, help="Layers of the stem."))
    z_dim: int = field(default=64, metadata=dict(min=1))
    w_dim: int = field(default=512, metadata=dict(min=1))
    # Progressive growing.
    stem: str | None = field(
        default=None,
        metadata=dict(path=True, help="The trained generator to grow (with --superres)."),
    )
    head_layers: int = field(default=7, metadata=dict(min=CRITICAL_LAYERS + 1))
    up_factor: int = field(default=2, metadata=dict(choices=(2, 4, 8, 16)))
    # Discriminator.
    backbones: list[str] = field(
        default_factory=lambda: ["tf_efficientnet_lite0", "deit_base_distilled_patch16_224"],
        metadata=dict(help="timm feature networks of the discriminator."),
    )
    pretrained: bool = field(
        default=True,
        metadata=dict(
            help="Random feature networks and classifier (offline tests); the FID stays pretrained."
        ),
    )
    d_width_max: int | None = field(
        default=None, metadata=dict(min=1, help="Cap on the discriminator heads' channels.")
    )
    d_cout: int = field(default=64, metadata=dict(min=1, help="Channels of the finest mixed features."))
    d_input_size: int = field(
        default=VIT_INPUT_SIZE,
        metadata=dict(
            min=64,  # the coarsest head's 4x4 convolution needs a 4x4 map
            max=2048,  # the heads have channel counts up to 1024x1024 maps (input / 2)
            help="Smaller images are resized to this for the feature networks (64-128 is much faster for small images).",
        ),
    )
    # Losses.
    blur_sigma: float = field(default=2.0, metadata=dict(min=0, cli=False))
    blur_fade_kimg: float = field(
        default=200.0, metadata=dict(min=0, help="The blur of D's inputs fades out over this many kimg.")
    )
    # Optimisation.
    glr: float = field(
        default=0.0025, metadata=dict(min=0, help="Generator learning rate (on --resume: from then on).")
    )
    dlr: float = field(
        default=0.002, metadata=dict(min=0, help="Discriminator learning rate (on --resume: from then on).")
    )
    g_reg_interval: int = field(default=4, metadata=dict(min=1, cli=False))
    d_reg_interval: int = field(default=16, metadata=dict(min=1, cli=False))
    ema_kimg: float | None = field(default=None, metadata=dict(min=0, cli=False))  # None: batch * 10 / 32
    ema_rampup: float | None = field(default=0.05, metadata=dict(min=0, cli=False))
    cls_weight: float | None = field(
        default=None,
        metadata=dict(help="Classifier guidance weight (default 8 on conditional stages >= 32x32)."),
    )
    pl_weight: float | None = field(
        default=None, metadata=dict(help="Path-length weight (default 2 for a stem, 0 for a stage).")
    )
    pl_start_kimg: float = field(default=200.0, metadata=dict(cli=False))
    amp: bool = field(  # bfloat16 autocast of the discriminator on CUDA and on CPUs with native bfloat16
        default=True, metadata=dict(help="Run the discriminator in float32 on CUDA.")
    )
    # Bookkeeping.
    workers: int = field(default=2, metadata=dict(min=0))
    tick_kimg: float = field(
        default=4.0, metadata=dict(flag="--tick", min=0, min_open=True, help="kimg per status line.")
    )
    snap_ticks: int = field(default=50, metadata=dict(flag="--snap", min=1, help="Ticks per snapshot."))
    fid_images: int = field(  # 0: off; a distance needs at least 2 images (checked in `validate`)
        default=0, metadata=dict(min=0, help="FID at each snapshot on this many images.")
    )
    fid_patience: int = field(
        default=3, metadata=dict(min=1, help="Stop when FID has not improved for this many snapshots.")
    )
    fid_network: str | None = field(
        default=None,
        metadata=dict(
            choices=("inception_v3", "tf_efficientnet_lite0"),
            help="Features of the FID (default: inception_v3 where its weights are, else tf_efficientnet_lite0: 'FD-lite0').",
        ),
    )
    device: str | None = field(
        default=None, metadata=dict(help="cpu, cuda or cuda:N (default: this process's GPU, else CPU).")
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Refuse values outside each field's bounds, and combinations that cannot train (a StyleGANError)."""
        for option in dataclasses.fields(self):
            problem = out_of_bounds(option, getattr(self, option.name))
            if problem:
                raise StyleGANError(f"{flag(option)} {getattr(self, option.name)}: {problem}")
        if self.batch_gpu is not None and self.batch % self.batch_gpu:
            raise StyleGANError(f"--batch-gpu {self.batch_gpu} must divide --batch {self.batch}")
        if not self.backbones:
            raise StyleGANError("--backbones: name at least one timm feature network")
        vits = [name for name in self.backbones if name.startswith(VIT_PREFIXES)]
        if vits and self.d_input_size != VIT_INPUT_SIZE:
            raise StyleGANError(
                f"--d-input-size {self.d_input_size}: {vits[0]} takes exactly {VIT_INPUT_SIZE} "
                f"(use --d-input-size {VIT_INPUT_SIZE}, or --backbones without vision transformers)"
            )
        if self.d_input_size % FEATURE_STRIDE:
            low = self.d_input_size // FEATURE_STRIDE * FEATURE_STRIDE
            nearest = f"{low} or {low + FEATURE_STRIDE}" if low >= 64 else str(low + FEATURE_STRIDE)
            raise StyleGANError(
                f"--d-input-size {self.d_input_size}: must be a multiple of {FEATURE_STRIDE} (try {nearest}), "
                "so that the feature maps halve exactly from stage to stage"
            )
        if self.fid_images == 1:
            raise StyleGANError("--fid-images 1: a Fréchet distance needs at least 2 images (0 turns it off)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def spelling(option: dataclasses.Field) -> str:
    """How the command line spells a field: --batch-gpu, --tick, --no-amp, --cond/--no-cond."""
    prefix = "--no-" if option.default is True else "--"  # a flag can only turn on what is off by default
    return option.metadata.get("flag", prefix + option.name.replace("_", "-"))


def flag(option: dataclasses.Field) -> str:
    """The command-line name of a field, as the messages name it: --batch-gpu, --tick, --no-amp, --cond."""
    return spelling(option).split("/")[0]


def bounds_text(option: dataclasses.Field) -> str:
    """The allowed values of a field in words: "at least 3", "one of 2, 4, 8, 16", "from 64 to 2048"."""
    metadata = option.metadata
    if "choices" in metadata:
        return "one of " + ", ".join(str(choice) for choice in metadata["choices"])
    low, high = metadata.get("min"), metadata.get("max")
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f"more than {low}" if metadata.get("min_open") else f"at least {low}"
    return f"at most {high}" if high is not None else "any value"


def out_of_bounds(option: dataclasses.Field, value) -> str | None:
    """Why `value` is outside the bounds of the field's metadata (None when it is inside, or is None)."""
    metadata = option.metadata
    if value is None:
        return None
    if "choices" in metadata:
        inside = value in metadata["choices"]
    else:
        low, high = metadata.get("min"), metadata.get("max")
        inside = (low is None or (value > low if metadata.get("min_open") else value >= low)) and (
            high is None or value <= high
        )
    return None if inside else f"must be {bounds_text(option)}"
