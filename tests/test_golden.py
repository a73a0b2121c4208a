"""The same answers: every shared clip, every method, as recorded in tests/golden/answers.json.

The file holds what `wlos-app analyze --json --summary-only --method M` answered for every clip of
grid_s1_sample and unseen_dev before the core was reorganised (issue 36): the offset, the confidence,
the drift track's model and segments, and whether the answer is reliable. A change to the code that
moves any of them by more than 0.01 ms or 0.001 of confidence fails here. A change meant to move the
answers re-records them (plain `analyze`, one clip and method at a time, about 20 s):

    .venv/bin/python tests/test_golden.py --record

To stay cheap (about 6 s for 27 clips x 4 methods) the test decodes and tracks each clip once
(analysis.extract) and concludes it once per method (analysis.conclude); test_shared_extraction_is_analyze
checks that this is what a plain `analyze` answers.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden" / "answers.json"
METHODS = ("c3-track", "c3", "wlos", "qmi")
OFFSET_MS, CONFIDENCE = 0.01, 0.001  # the tolerances
FOLDERS = ("grid_s1_sample", "unseen_dev")


def _config(method: str):
    from wlos_app.core.analysis import AnalysisConfig
    return AnalysisConfig(method=method, keep_audio=False, keep_face_frames=False)


def answer_of(res) -> dict:
    """What is kept of a result: its `analyze --json --summary-only` record, these fields only."""
    from wlos_app.core.batch import record_of
    r = record_of(res, summary_only=True)
    return {"offset_ms": r["offset_ms"], "confidence": r["confidence"], "track_model": r["track_model"],
            "segments": [[s["drift_ms_start"], s["drift_ms_end"]] for s in r["segments"]],
            "reliable": r["reliable"]}


def answers_shared(path: Path) -> dict[str, dict]:
    """Every method's answer for one clip, the clip extracted once (the same cfg for both stages)."""
    from wlos_app.core import analysis
    ex = analysis.extract(str(path), _config(METHODS[0]))
    return {m: answer_of(analysis.conclude(ex, _config(m))) for m in METHODS}


def golden() -> dict[str, dict]:
    """clip -> method -> answer; a method recorded under an old name (the default's "fusion",
    before issue 36 named it c3-track) is read under today's."""
    from wlos_app.core.methods import canonical
    return {clip: {canonical(m): a for m, a in by_method.items()}
            for clip, by_method in json.loads(GOLDEN.read_text())["answers"].items()}


def differences(got: dict, want: dict) -> list[str]:
    """What differs beyond the tolerances, in words ([] when the answers agree)."""
    out = []

    def close(a, b, tol):
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= tol)
    if not close(got["offset_ms"], want["offset_ms"], OFFSET_MS):
        out.append(f"offset_ms {got['offset_ms']} != {want['offset_ms']}")
    if not close(got["confidence"], want["confidence"], CONFIDENCE):
        out.append(f"confidence {got['confidence']} != {want['confidence']}")
    for key in ("track_model", "reliable"):
        if got[key] != want[key]:
            out.append(f"{key} {got[key]!r} != {want[key]!r}")
    if len(got["segments"]) != len(want["segments"]) or not all(
            close(a, b, OFFSET_MS) for g, w in zip(got["segments"], want["segments"]) for a, b in zip(g, w)):
        out.append(f"segments {got['segments']} != {want['segments']}")
    return out


def clips_in(folder: Path) -> list[Path]:
    """The clips of a shared folder: GRID's .mpg files (not their .align), every video elsewhere."""
    from wlos_app.core.batch import find_clips
    return sorted(folder.glob("*.mpg")) if folder.name == "grid_s1_sample" else find_clips(folder)


def _clip(name: str, sample_dir: Path, unseen_dir: Path) -> Path:
    return {"grid_s1_sample": sample_dir, "unseen_dev": unseen_dir}[name.split("/")[0]].parent / name


@pytest.mark.parametrize("name", sorted(golden()))
def test_same_answers(name, sample_dir, unseen_dir):
    want = golden()[name]
    got = answers_shared(_clip(name, sample_dir, unseen_dir))
    bad = {m: d for m in METHODS if (d := differences(got[m], want[m]))}
    assert not bad, f"{name}: answers changed: {bad}"


def test_every_clip_is_recorded(sample_dir, unseen_dir):
    """A clip added to the shared folders is recorded too (re-record), and none is missing."""
    on_disk = {f"{d.name}/{p.name}" for d in (sample_dir, unseen_dir) for p in clips_in(d)}
    assert set(golden()) == on_disk
    assert all(set(v) == set(METHODS) for v in golden().values())


def test_shared_extraction_is_analyze(unseen_dir):
    """The shortcut above answers what a plain `analyze` does; the default method is the recorded
    c3-track answer. (The interview: the longest clip, with the most blocks.)"""
    from wlos_app.core.analysis import analyze
    name = "unseen_dev/interview_sample.mp4"
    path = unseen_dir.parent / name
    for method, key in (("auto", "c3-track"), ("qmi", "qmi")):
        got = answer_of(analyze(str(path), _config(method)))
        assert not differences(got, golden()[name][key]), (method, got)


def record() -> None:
    """Write tests/golden/answers.json from plain `analyze` of every clip, one method at a time."""
    from conftest import SHARED
    from wlos_app.core.analysis import analyze
    clips = [p for f in FOLDERS for p in clips_in(SHARED / f)]
    answers = {str(p.relative_to(SHARED)): {m: answer_of(analyze(str(p), _config(m))) for m in METHODS}
               for p in clips}
    about = json.loads(GOLDEN.read_text())["_about"] if GOLDEN.exists() else ""
    # One line per clip and method: a re-recording's diff shows what moved.
    lines = [f' "_about": {json.dumps(about)},', ' "answers": {']
    for i, name in enumerate(sorted(answers)):
        lines.append(f"  {json.dumps(name)}: {{")
        lines += [f"   {json.dumps(m)}: {json.dumps(answers[name][m], sort_keys=True)}"
                  + ("," if j < len(METHODS) - 1 else "") for j, m in enumerate(sorted(METHODS))]
        lines.append("  }" + ("," if i < len(answers) - 1 else ""))
    GOLDEN.write_text("{\n" + "\n".join(lines) + "\n }\n}\n")
    print(f"recorded {len(answers)} clips x {len(METHODS)} methods in {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(__doc__)
    sys.path.insert(0, str(Path(__file__).parent))
    record()
