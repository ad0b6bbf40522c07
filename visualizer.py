"""Open the StyleGAN-XL studio: python visualizer.py [MODEL ...] (the first one opens; the others are offered under
Recent..., and join the saved recent list once they have opened)."""

import sys

from stylegan.memory import tune_allocator

tune_allocator()  # before torch is imported (see stylegan.memory)

from viz.main import main

if __name__ == "__main__":
    sys.exit(main())
