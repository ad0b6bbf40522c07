"""Image distances for inversion: LPIPS (VGG16) when its weights are here, a pixel + structural loss when not,
and the PSNR / SSIM figures reported with a reconstruction. Images are [N, C, H, W] in [-1, 1]."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

# torchvision's ImageNet VGG16, the backbone of LPIPS; torchvision and lpips look for it under this name.
VGG16_CHECKPOINT = "vgg16-397923af.pth"
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_CHECKPOINT}"
LPIPS_RESOLUTION = (
    256  # larger images are area-downsampled to this before LPIPS, as the official projector does
)


def vgg16_checkpoint_path() -> Path:
    """Where the VGG16 weights are looked up: $STYLEGAN_WEIGHTS/vgg16-397923af.pth, else torch's hub cache
    (~/.cache/torch/hub/checkpoints)."""
    from stylegan.pretrained import weights_folder_file

    return (
        weights_folder_file(VGG16_CHECKPOINT) or Path(torch.hub.get_dir()) / "checkpoints" / VGG16_CHECKPOINT
    )


class LPIPS(torch.nn.Module):
    """LPIPS distance (the `lpips` package's VGG16 variant with its learned layer weights) on a VGG16 backbone
    loaded from a local checkpoint, so nothing is downloaded. forward(a, b) -> [N]."""

    def __init__(self, checkpoint: str | Path):
        super().__init__()
        import lpips

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torchvision's notice about the `pretrained` argument lpips uses
            self.model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
        self._load_backbone(Path(checkpoint))
        self.requires_grad_(False).eval()

    def _load_backbone(self, checkpoint: Path) -> None:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        slices = {}  # torchvision's features.{i} live in lpips's slice{k}.{i}
        for slice_name, module in self.model.net.named_children():
            for index, _ in module.named_children():
                slices[index] = slice_name
        backbone = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0] == "features" and parts[1] in slices:
                backbone[f"{slices[parts[1]]}.{parts[1]}.{parts[2]}"] = value
        missing = set(self.model.net.state_dict()) - set(backbone)
        if missing:
            raise ValueError(f"{checkpoint} is not torchvision's VGG16 (missing {sorted(missing)[:3]})")
        self.model.net.load_state_dict(backbone)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(_at_most_lpips_size(a), _at_most_lpips_size(b), normalize=False).reshape(-1)


@functools.cache
def _load_lpips_cached(checkpoint: str) -> LPIPS:
    return LPIPS(checkpoint)


def load_lpips(device: str | torch.device = "cpu") -> tuple[LPIPS | None, str]:
    """LPIPS on `device` if the VGG16 weights are available locally, with a line saying which loss is used."""
    path = vgg16_checkpoint_path()
    if not path.is_file():
        return None, (
            f"LPIPS needs torchvision's VGG16 weights, not found at {path} (download {VGG16_URL} there, or into "
            "$STYLEGAN_WEIGHTS); using a pixel + multi-scale SSIM loss instead"
        )
    try:
        model = _load_lpips_cached(str(path))
    except (OSError, RuntimeError, ValueError, KeyError, ImportError) as error:
        return None, f"LPIPS could not load {path} ({error}); using a pixel + multi-scale SSIM loss instead"
    return model.to(device), f"LPIPS (VGG16 from {path})"


def _at_most_lpips_size(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-1] > LPIPS_RESOLUTION:
        return F.interpolate(images, size=(LPIPS_RESOLUTION, LPIPS_RESOLUTION), mode="area")
    return images


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return (kernel[:, None] * kernel[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image [N] (Wang et al. 2004: Gaussian window, K1 0.01, K2 0.03), on images in
    [-1, 1] taken as [0, 1]; the window shrinks for images smaller than it and edges are reflected."""
    a, b = (a.to(torch.float32) + 1) / 2, (b.to(torch.float32) + 1) / 2
    size = min(window, a.shape[-1], a.shape[-2])
    size -= 1 - size % 2  # odd
    kernel = _gaussian_window(size, sigma, a.shape[1], a.device)

    def blur(x):
        pad = size // 2
        return F.conv2d(F.pad(x, [pad] * 4, mode="reflect") if pad else x, kernel, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2
    covariance = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    index = ((2 * mu_a * mu_b + c1) * (2 * covariance + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    return index.mean(dim=(1, 2, 3))


def multiscale_ssim(a: torch.Tensor, b: torch.Tensor, min_size: int = 8) -> torch.Tensor:
    """Mean SSIM over a pyramid halving the images down to `min_size` pixels, per image [N]."""
    values = [ssim(a, b)]
    while a.shape[-1] // 2 >= min_size:
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        values.append(ssim(a, b))
    return torch.stack(values).mean(dim=0)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image [N], for images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.to(torch.float32) - b.to(torch.float32)).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(4 / mse.clamp(min=1e-12))


class ReconstructionLoss:
    """Distance of images [N, C, H, W] to one target [1, C, H, W], per image [N].

    With LPIPS: LPIPS + pixel_weight * MSE. Without: MSE + (1 - multi-scale SSIM), a pixel and structural
    loss that needs no weights.
    """

    def __init__(self, lpips_model: LPIPS | None, pixel_weight: float = 0.0):
        self.lpips = lpips_model
        self.pixel_weight = pixel_weight

    @property
    def name(self) -> str:
        return "lpips" if self.lpips is not None else "pixel+ms-ssim"

    def __call__(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.expand_as(images)
        mse = (images - target).square().mean(dim=(1, 2, 3))
        if self.lpips is not None:
            return self.lpips(images, target) + self.pixel_weight * mse
        return mse + (1 - multiscale_ssim(images, target))


def reconstruction_metrics(image: torch.Tensor, target: torch.Tensor, lpips_model: LPIPS | None) -> dict:
    """PSNR (dB), SSIM and, when LPIPS is available, LPIPS of one reconstruction [1, C, H, W] against its target."""
    with torch.no_grad():
        metrics = {"psnr": psnr(image, target).item(), "ssim": ssim(image, target).item()}
        metrics["lpips"] = None if lpips_model is None else lpips_model(image, target).item()
    return metrics
