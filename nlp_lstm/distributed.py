"""Data-parallel training over the processes torchrun starts: who this process is, and the few collectives the loop needs.

``torchrun --nproc-per-node N`` starts N copies of a command with RANK, LOCAL_RANK and
WORLD_SIZE in their environment. Each copy trains the same model on its share of every
batch and the gradients are combined (by DistributedDataParallel for the language model,
by ``sum_gradients`` for the classifier), so all copies take the same step; rank 0 alone
writes the run directory and reports progress. Without torchrun (or
with one process) a :class:`Processes` is rank 0 of 1: no process group is made and
every helper hands back its input, so a plain run pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn

from nlp_lstm.errors import UsageError

# Test hook: when set, every rank saves its final weights there as rank<N>.safetensors, so a
# test can check that the replicas ended identical (rank 0's last/ alone cannot show that).
REPLICA_DIR_VARIABLE = "NLP_LSTM_DEBUG_WEIGHTS_DIR"


@dataclass
class Processes:
    """This process's place among the training processes; rank 0 of 1 when torchrun did not start it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # we made the process group, so we destroy it

    @classmethod
    def from_environment(cls) -> Processes:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def start(self, device: torch.device) -> torch.device:
        """Join the process group with the backend of ``device`` (gloo on CPU, nccl on CUDA); return this process's device."""
        if not self.distributed:
            return device
        if device.type == "cuda":
            if self.local_rank >= torch.cuda.device_count():
                raise UsageError(
                    f"torchrun started more processes on this machine than it has GPUs ({torch.cuda.device_count()}); "
                    "lower --nproc-per-node"
                )
            device = torch.device("cuda", self.local_rank)  # one GPU per process, whatever index --device named
            torch.cuda.set_device(device)
        elif device.type != "cpu":
            raise UsageError(f"--device {device}: training under torchrun runs on cpu (gloo) or cuda (nccl)")
        self.device = device
        if not dist.is_initialized():  # a caller that made its own group keeps it
            if device.type == "cuda":
                dist.init_process_group("nccl", rank=self.rank, world_size=self.world_size, device_id=device)
            else:
                dist.init_process_group("gloo", rank=self.rank, world_size=self.world_size)
            self.owns_group = True
        return device

    def rows(self, batch_size: int) -> slice:
        """This process's contiguous block of the rows of a global batch (``batch_size`` is a multiple of the world)."""
        share = batch_size // self.world_size
        return slice(self.rank * share, (self.rank + 1) * share)

    def replicate(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped so its backward averages gradients over the processes; ``model`` itself in one process.

        DistributedDataParallel also copies rank 0's weights to every process when it wraps.
        """
        if not self.distributed:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def share_of(self, rows: np.ndarray) -> np.ndarray:
        """This process's rows of a batch of any size: every ``world_size``-th, from its rank (maybe none)."""
        return rows[self.rank :: self.world_size]

    def same_weights(self, model: nn.Module) -> None:
        """Copy rank 0's weights to every process (what DistributedDataParallel does when it wraps)."""
        if self.distributed:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)

    def sum_gradients(self, params: list[nn.Parameter]) -> None:
        """Replace each gradient by its sum over the processes, in one all-reduce.

        For losses that each process scales by the global batch size, the sum is the gradient
        of the whole batch's mean loss, whatever share of the batch each process took. Every
        process must pass the same parameters; a missing gradient counts as zeros.
        """
        if not self.distributed or not params:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p)
            offset += p.numel()

    def seed_own_randomness(self, seed: int, step: int) -> None:
        """Give every rank but 0 its own random stream, so replicas draw different dropout masks.

        Rank 0 keeps the stream a single process would have. Drawn from (seed, rank, step), so a
        resumed run gets fresh streams: with dropout, multi-process runs match single-process
        and uninterrupted ones statistically, not bit for bit.
        """
        if self.rank:
            torch.manual_seed(int(np.random.default_rng([seed, self.rank, step]).integers(2**62)))

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over the processes."""
        return self.sum(value) / self.world_size

    def sum(self, value: torch.Tensor) -> torch.Tensor:
        """The sum of ``value`` over the processes."""
        if not self.distributed:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is set in any process; every process must ask at the same point of the loop."""
        if not self.distributed:
            return flag
        raised = torch.tensor(int(flag), device=self.device)
        dist.all_reduce(raised, op=dist.ReduceOp.MAX)
        return bool(raised)

    def from_main(self, values: list[float]) -> list[float]:
        """Rank 0's ``values`` in every process (the others pass placeholders of the same length)."""
        if not self.distributed:
            return values
        shared = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.broadcast(shared, src=0)
        return shared.tolist()

    def text_from_main(self, text: str) -> str:
        """Rank 0's ``text`` in every process (the others pass anything); sent as UTF-8 bytes, never pickled."""
        if not self.distributed:
            return text
        data = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8) if self.is_main else None
        size = torch.tensor([0 if data is None else len(data)], device=self.device)
        dist.broadcast(size, src=0)
        buffer = data.to(self.device) if data is not None else torch.empty(int(size), dtype=torch.uint8, device=self.device)
        dist.broadcast(buffer, src=0)
        return bytes(buffer.cpu().numpy()).decode("utf-8")

    def gather_rows(self, tensor: torch.Tensor, dim: int) -> torch.Tensor:
        """The blocks of rows (along ``dim``) of every process, joined in rank order: the global batch's tensor."""
        if not self.distributed:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim)

    def save_replica(self, model: nn.Module) -> None:
        """Test hook (see ``REPLICA_DIR_VARIABLE``); does nothing unless the variable is set."""
        directory = os.environ.get(REPLICA_DIR_VARIABLE)
        if directory:
            weights = {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}
            save_file(weights, os.path.join(directory, f"rank{self.rank}.safetensors"))


@contextmanager
def processes() -> Iterator[Processes]:
    """This process's :class:`Processes` for one training run; leaves the process group it made at the end."""
    group = Processes.from_environment()
    try:
        yield group
        if group.owns_group:
            dist.barrier()  # no process returns while rank 0 still writes the run directory
    finally:
        if group.owns_group:
            dist.destroy_process_group()
