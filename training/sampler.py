"""Where every random draw of a training step comes from, so that a resumed run continues exactly.

A step's draws (z, labels, augmentation, path-length noise) come from generators seeded by (seed, step, rank,
stream), and the data order is a fresh permutation per pass over the data, drawn from (seed, pass): nothing
depends on how many steps this process has already run.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch


def step_generator(seed: int, step: int, rank: int, stream: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, step, rank, stream]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class StepSampler(torch.utils.data.Sampler):
    """This process's share of each step's batch, from step `start_step` on, forever."""

    def __init__(self, size: int, batch: int, rank: int, world: int, seed: int, start_step: int):
        self.size, self.batch, self.rank, self.world = size, batch, rank, world
        self.seed, self.start_step = seed, start_step
        self.per_rank = batch // world

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))

    def __iter__(self) -> Iterator[int]:
        epoch, permutation = -1, None
        step = self.start_step
        while True:
            first = step * self.batch + self.rank * self.per_rank
            for position in range(first, first + self.per_rank):
                if position // self.size != epoch:
                    epoch = position // self.size
                    permutation = self._permutation(epoch)
                yield int(permutation[position % self.size])
            step += 1
