"""Per-clip functions for the batch tests, by name in a module the worker processes can import:
they stand in for the analysis to make a worker crash, hang or answer at once."""
from __future__ import annotations

import os
import signal
import time


def scripted(path: str, cfg=None, summary_only: bool = True, block_curves: bool = False) -> dict:
    name = os.path.basename(path)
    if name.startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)  # as a decoder bug would
    if name.startswith("hang"):
        time.sleep(120)
    if name.startswith("slow"):
        time.sleep(3)  # still running when a crash beside it takes the process down
    return {"path": path, "reliable": True, "fps": 25.0, "offset_ms": 0.0, "track_model": "constant",
            "segments": [{"drift_ms_start": 0.0, "drift_ms_end": 0.0}], "pid": os.getpid()}
