"""The paper's networks: visual and audio branches, WLOS and C3 heads, and their weights."""
from .audio import AudioBranch
from .networks import C3, NETWORKS, WLOS
from .visual import VisualBranch
from .weights import default_device, load, save, weights_path

__all__ = ["AudioBranch", "VisualBranch", "WLOS", "C3", "NETWORKS", "load", "save", "weights_path",
           "default_device"]
