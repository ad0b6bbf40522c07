"""The `stylegan` command line. It sits above the model library, the trainer and the visualizer: one module per
command, each a thin wrapper over library functions; none of the three imports this package."""

from stylegan.memory import tune_allocator

tune_allocator()  # before the commands import torch (see stylegan.memory)

from stylegan_cli.centroids import centroids
from stylegan_cli.convert import convert
from stylegan_cli.dataset import dataset
from stylegan_cli.generate import generate
from stylegan_cli.group import main
from stylegan_cli.info import info
from stylegan_cli.invert import invert
from stylegan_cli.mix import mix
from stylegan_cli.train import train
from stylegan_cli.video import video
from stylegan_cli.visualizer import viz

for _command in (info, convert, generate, mix, video, centroids, invert, viz, dataset, train):
    main.add_command(_command)

__all__ = ["main"]
