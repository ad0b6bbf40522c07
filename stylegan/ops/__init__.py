"""Low-level ops with the official StyleGAN2 / StyleGAN3 semantics.

Each op is one call with a pure-PyTorch reference implementation behind it. Its `impl` argument selects the
implementation: 'ref' the reference, 'fast' the faster path where the op has one, 'auto' the fast path unless
the environment variable STYLEGAN_OPS=ref|fast overrides it. On CUDA tensors the fast path is the op's Triton
kernel (stylegan.ops.triton; one warning and the reference where it cannot run); on the CPU it is
filtered_lrelu's fused polyphase path and upfirdn2d's matrix path for small images.

The package exposes the modules, as the official `torch_utils.ops` does, so that `upfirdn2d.setup_filter(...)`
reads the same; the functions live in them (`from stylegan.ops.upfirdn2d import upfirdn2d`). Re-exporting a
function under its module's name would hide the module.
"""

from stylegan.ops import bias_act, conv2d_resample, filtered_lrelu, upfirdn2d

__all__ = ["bias_act", "conv2d_resample", "filtered_lrelu", "upfirdn2d"]
