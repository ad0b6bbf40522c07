"""Low-level ops with the official StyleGAN2 / StyleGAN3 semantics.

Each op is one call with a pure-PyTorch reference implementation behind it. Its `impl` argument selects the
implementation ('auto' picks the fastest available, today always 'ref'), so a fused CUDA kernel or a faster
CPU path can be added later without touching the networks.

The package exposes the modules, as the official `torch_utils.ops` does, so that `upfirdn2d.setup_filter(...)`
reads the same; the functions live in them (`from stylegan.ops.upfirdn2d import upfirdn2d`). Re-exporting a
function under its module's name would hide the module.
"""

from stylegan.ops import bias_act, conv2d_resample, filtered_lrelu, upfirdn2d

__all__ = ["bias_act", "conv2d_resample", "filtered_lrelu", "upfirdn2d"]
