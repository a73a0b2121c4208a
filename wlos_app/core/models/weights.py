"""Saving and loading trained networks. A weights file is a torch dict:
{"format": FORMAT, "kind": "wlos" | "c3", "state_dict": ..., "meta": {...}}; tensors may be fp16.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ...errors import WeightsError
from ..paths import resources_dir
from .networks import NETWORKS

FORMAT = "wlos-weights/1"
FILENAMES = {"wlos": "wlos.pt", "c3": "c3.pt"}


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def weights_path(kind: str, model_dir: str | os.PathLike | None = None) -> Path:
    """Where the weights of `kind` are looked for: a model folder, or the shipped resources/."""
    return Path(model_dir or resources_dir()) / FILENAMES[kind]


def save(model: torch.nn.Module, path: str | os.PathLike, meta: dict | None = None, half: bool = True) -> None:
    sd = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    tmp = Path(str(path) + ".partial")
    torch.save({"format": FORMAT, "kind": model.kind, "state_dict": sd, "meta": meta or {}}, tmp)
    os.replace(tmp, path)


def load(kind: str, model_dir: str | os.PathLike | None = None, device: torch.device | str | None = None):
    """The trained `kind` network in eval mode, float32, on `device` (CUDA when available)."""
    if kind not in NETWORKS:
        raise WeightsError(f"unknown model kind {kind!r}")
    path = weights_path(kind, model_dir)
    if not path.exists():
        where = f"in {model_dir}" if model_dir else f"in {path.parent} (no trained weights are installed yet)"
        raise WeightsError(f"no {kind.upper()} weights {where}: train a model with `wlos-app train`, "
                           f"or use --method qmi, which needs none")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise WeightsError(f"{path}: not a readable weights file ({exc.__class__.__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("kind") != kind:
        raise WeightsError(f"{path}: not {kind.upper()} weights of format {FORMAT}")
    net = NETWORKS[kind]()
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise WeightsError(f"{path}: weights do not fit the {kind.upper()} network ({first})") from None
    net.meta = blob.get("meta", {})
    if kind == "wlos":
        net.drift_from = net.meta.get("drift_from", "regression")
    return net.to(device or default_device()).eval()
