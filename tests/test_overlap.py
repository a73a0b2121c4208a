"""The command line's two-process analysis (core/overlap.py): the same answers and the same errors
as analysis.analyze, and a clip whose extracting process dies costs that clip only.

The forked path needs a process without torch and without threads, which pytest's is not, so it
runs in a fresh interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from wlos_app.core import analysis
from wlos_app.core.analysis import AnalysisConfig

SCRIPT = r"""
import json, os, sys
from wlos_app.core import analysis, overlap
from wlos_app.core.analysis import AnalysisConfig
good, good2, bad, odd, dies, empty = sys.argv[1:7]
clips = [good, good2, bad, odd, dies, good] if empty == "-" else [good]
cfg = AnalysisConfig(keep_audio=False, keep_face_frames=False, model_dir=None if empty == "-" else empty)
assert overlap.usable(), "the forked path must be the one under test"
forked = []
_overlapped = overlap._overlapped
def counted(ext, path, cfg, progress, send_next):
    forked.append(os.path.basename(path))
    return _overlapped(ext, path, cfg, progress, send_next)
overlap._overlapped = counted
events = []  # what was sent there and estimated here, in order
_send, _conclude = overlap.Extractor.send, analysis.conclude
def send(self, path):
    events.append(["send", os.path.basename(path)])
    _send(self, path)
def conclude(ex, cfg=None, progress=None, cancel=None):
    events.append(["conclude", os.path.basename(ex.path)])
    return _conclude(ex, cfg, progress, cancel)
overlap.Extractor.send, analysis.conclude = send, conclude
_extract = analysis.extract
class Odd(Exception):  # pickles, but does not unpickle
    def __init__(self, a, b):
        super().__init__(f"{a} and {b}")
def extract(path, cfg=None, progress=None, cancel=None, transform=None):
    if path == dies:  # runs in the forked process, which inherited this patch
        os._exit(3)
    if path == odd:
        raise Odd("this", "that")
    if empty != "-":  # slow, and leaves a mark when it ends: the parent must not wait for it
        import time
        time.sleep(10)
        open(os.path.join(empty, "extracted"), "w").close()
    return _extract(path, cfg, progress, cancel, transform)
analysis.extract = extract
progress = []  # one list of messages per clip
def progress_of(path):
    progress.append([])
    return lambda f, m: progress[-1].append(m)
out = []
for path, res in overlap.analyze_each(clips, cfg, progress_of):
    if isinstance(res, Exception):
        out.append({"path": path, "error": type(res).__name__ + ": " + str(res)})
    else:
        out.append({"path": path, "offset_ms": res.offset_ms, "confidence": res.confidence,
                    "drift": [float(x) for x in res.drift], "stages": list(res.timings)})
print(json.dumps({"results": out, "forked": forked, "progress": progress, "events": events}))
"""


def test_the_forked_extraction_gives_analyzes_answers_and_errors(sample_clips, tmp_path):
    grid_clip, other = sample_clips[:2]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    dies, odd = tmp_path / "dies.mp4", tmp_path / "odd.mp4"
    dies.write_bytes(grid_clip.read_bytes())
    odd.write_bytes(grid_clip.read_bytes())
    empty = tmp_path / "no_weights"
    empty.mkdir()
    def run(model_dir: str) -> dict:
        env = dict(os.environ, WLOS_OVERLAP="1")
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(grid_clip), str(other), str(bad), str(odd), str(dies),
                               model_dir],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.splitlines()[-1])

    got = run("-")
    first, second, broken, strange, died, again = got["results"]

    cfg = AnalysisConfig(keep_audio=False, keep_face_frames=False)
    alone = analysis.analyze(str(grid_clip), cfg)
    for r, want in ((first, alone), (second, analysis.analyze(str(other), cfg)), (again, alone)):
        assert r["offset_ms"] == pytest.approx(want.offset_ms, abs=1e-9)
        assert r["confidence"] == pytest.approx(want.confidence, abs=1e-12)
        np.testing.assert_allclose(r["drift"], want.drift, atol=1e-9, equal_nan=True)
        assert r["stages"][0] == "load_models" and set(r["stages"]) == set(want.timings)
    # through the forked process: the first two clips, the odd one and the one that kills it; the unreadable one
    # (no length to read) and the last (no process left) ran here
    assert got["forked"] == [grid_clip.name, other.name, "odd.mp4", "dies.mp4"]
    # the second clip was sent there before the first was estimated here
    assert got["events"][:4] == [["send", grid_clip.name], ["send", other.name],
                                 ["conclude", grid_clip.name], ["conclude", other.name]]
    # the first clip's progress: the forked process's stages, then the estimate's
    for said in got["progress"][:2]:
        assert said[0] == "step 1 of 3: decoding the sound"
        assert said[-2:] == ["step 3 of 3: estimating the drift (c3-track)", "done"]

    with pytest.raises(Exception) as exc:
        analysis.analyze(str(bad), cfg)
    assert broken["error"] == f"{type(exc.value).__name__}: {exc.value}"
    assert strange["error"] == "WlosError: Odd: this and that"  # an exception that cannot cross whole
    assert died["error"] == f"WlosError: {dies}: the process decoding it ended (exit code 3)"
    # missing weights: the error analyze gives, without waiting for the extraction
    got = run(str(empty))
    assert got["forked"] == [grid_clip.name]
    time.sleep(1)
    assert not (empty / "extracted").exists()
    with pytest.raises(Exception) as exc:
        analysis.analyze(str(grid_clip), replace(cfg, model_dir=str(empty)))
    assert got["results"] == [{"path": str(grid_clip), "error": f"{type(exc.value).__name__}: {exc.value}"}]


def test_not_used_where_fork_is_unsafe_or_gains_nothing(monkeypatch):
    from wlos_app.core import overlap
    assert "torch" in sys.modules  # pytest's process has loaded the networks
    assert not overlap.usable()
    monkeypatch.setenv("WLOS_OVERLAP", "0")
    assert not overlap.usable()
