"""Low-level ops with the official StyleGAN semantics.

Each op is one call with a pure-PyTorch reference implementation behind it; `impl` selects the implementation
('auto' picks the fastest available, today always the reference), so a fused CUDA kernel or a faster CPU path
can be added later without touching the networks.
"""

from stylegan.ops.bias_act import bias_act
from stylegan.ops.conv2d_resample import conv2d_resample
from stylegan.ops.filtered_lrelu import filtered_lrelu
from stylegan.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "filter2d",
    "filtered_lrelu",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]
