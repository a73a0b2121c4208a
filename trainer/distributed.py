"""Training in several processes: `torchrun --nproc-per-node N -m wlos_app train ...`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `setup()` joins the process group (gloo on CPU,
nccl on CUDA) and does nothing when there is one process, so every other path is unchanged.
What the processes share (trainer.train): each step's segments are split between them, the
network is wrapped in DistributedDataParallel (gradients averaged), and one per-step all-reduce
carries "no pairs here" and "stop" (time limit, cancel), so no process waits forever for another.
Rank 0 alone extracts features (the others wait, then read its cache), validates, logs,
checkpoints and saves; at the end the ranks check that their weights are identical.
"""
from __future__ import annotations

import os

import torch


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) outside torchrun."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def setup(device: str | None = None) -> tuple[int, int]:
    """Joins the process group torchrun describes (once); returns (rank, world size)."""
    import torch.distributed as dist
    n = int(os.environ.get("WORLD_SIZE", "1"))
    if n <= 1 or dist.is_initialized():
        return world()
    cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return world()


def device_for(device: torch.device) -> torch.device:
    """Each process its own GPU (LOCAL_RANK); CPU processes share the CPU."""
    if device.type == "cuda" and world()[1] > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def barrier() -> None:
    import torch.distributed as dist
    if world()[1] > 1:
        dist.barrier()


def any_of(*flags: bool, device: torch.device | str = "cpu") -> list[bool]:
    """Each flag OR-ed over all processes (one all-reduce)."""
    import torch.distributed as dist
    if world()[1] == 1:
        return [bool(f) for f in flags]
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def same_weights(net: torch.nn.Module) -> bool:
    """Whether every process holds the same weights (a checksum per process, gathered)."""
    import torch.distributed as dist
    if world()[1] == 1:
        return True
    with torch.no_grad():
        total = sum(p.double().sum() * (i + 1) for i, p in enumerate(net.parameters()))
    t = torch.tensor([float(total)], dtype=torch.float64, device=next(net.parameters()).device)
    lo, hi = t.clone(), t.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    return bool((hi - lo).abs().item() <= 1e-9 * max(1.0, abs(float(t))))
