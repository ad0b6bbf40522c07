"""Open the StyleGAN-XL studio: python visualizer.py [MODEL ...] (the first one opens; all go in the recent list)."""

import sys

from viz.main import main

if __name__ == "__main__":
    sys.exit(main())
