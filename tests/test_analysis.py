"""End to end on real speech: injected delays must come back, from Python and from the CLI."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from wlos_app import AnalysisConfig, analyze
from wlos_app.core import calibration
from wlos_app.errors import MediaError, NoFaceError, TooShortError, WeightsError

QMI = AnalysisConfig(method="qmi")


@pytest.mark.parametrize("name,kw,expect_ms,fps", [
    ("sync.mp4", {}, 0.0, 25),
    ("late120_30fps.mp4", dict(fps=30, audio_delay_s=0.12), 120.0, 30),
    ("early160.mp4", dict(audio_delay_s=-0.16), -160.0, 25),
    ("start200.mkv", dict(audio_start_s=0.2), 200.0, 25),  # the audio stream starts late
])
def test_injected_delay_comes_back_within_a_frame(made, name, kw, expect_ms, fps):
    res = analyze(str(made(name, **kw)), QMI)
    assert res.fps == pytest.approx(fps)
    assert abs(res.offset_ms - expect_ms) < 40.0, res.summary()
    assert res.offset_frames == pytest.approx(res.offset_ms / 1000 * fps)
    assert res.confidence > 0.5
    assert res.n_used > 200 and len(res.face.valid) == 300


def test_curves_and_json(made):
    res = analyze(str(made("sync.mp4")), AnalysisConfig(method="qmi", curves=("qmi",)))
    j = res.to_json(per_block_curves=True)
    for key in ("path", "fps", "duration_s", "method", "offset_frames", "offset_ms", "confidence", "blocks"):
        assert key in j
    assert len(j["blocks"]) == len(res.starts) == 290
    assert set(j["blocks"][0]) >= {"start_s", "drift_frames", "valid"}
    assert len(j["block_curves"]["qmi"]) == 290 and len(j["block_curves"]["qmi"][0]) == 19
    assert len(j["clip_curves"]["qmi"]) == 19
    json.dumps(j)  # serialisable: no NaN objects, no numpy types


def test_confidence_is_lower_when_the_answer_is_wrong(sample_clips):
    """On 3 s GRID clips QMI is often wrong; its confidence must say so: lower on the wrong
    answers, and none of them called reliable (QMI's calibration rarely calls anything reliable
    on 3 s of speech, which is the truth about QMI there)."""
    right, wrong = [], []
    for p in sample_clips[:12]:
        res = analyze(str(p), QMI)
        (right if abs(res.offset_grid) <= 1 else wrong).append(res.confidence)
    assert right and wrong
    assert np.mean(right) > np.mean(wrong) + 0.05, (right, wrong)
    assert max(wrong) < calibration.RELIABLE, wrong


def test_networks_without_weights_say_so(grid_clip, tmp_path):
    with pytest.raises(WeightsError, match="no WLOS weights"):
        analyze(str(grid_clip), AnalysisConfig(method="wlos", model_dir=str(tmp_path)))
    with pytest.raises(WeightsError, match="no C3 weights"):
        analyze(str(grid_clip), AnalysisConfig(method="c3", model_dir=str(tmp_path)))
    # a model folder that was asked for and is empty or missing is an error, never a quiet fallback
    with pytest.raises(WeightsError, match="holds no weights"):
        analyze(str(grid_clip), AnalysisConfig(method="auto", model_dir=str(tmp_path)))
    with pytest.raises(WeightsError, match="no such folder"):
        analyze(str(grid_clip), AnalysisConfig(model_dir=str(tmp_path / "missing")))


def test_networks_run_end_to_end_with_weights(grid_clip, tmp_path):
    """Untrained weights: checks the plumbing (shapes, curves, JSON), not accuracy."""
    import torch
    from wlos_app.core import models
    torch.manual_seed(0)
    models.save(models.WLOS(), tmp_path / "wlos.pt")
    models.save(models.C3(), tmp_path / "c3.pt")
    res = analyze(str(grid_clip), AnalysisConfig(method="wlos", curves=("c3", "qmi"), model_dir=str(tmp_path)))
    assert res.method == "wlos" and np.isfinite(res.drift[[s == "ok" for s in res.status]]).all()
    assert res.curves["c3"].shape == (len(res.starts), 19) and "c3" in res.clip_curves
    assert 0.0 <= res.confidence <= 1.0


# --- bad input ---------------------------------------------------------------

def _encode(path, seconds=2.0, face=None, audio=True, video=True):
    import mediagen
    n = int(seconds * 25)
    img = face if face is not None else np.full((288, 360, 3), 120, np.uint8)
    frames = [(k / 25, img) for k in range(n)]
    t = np.arange(int(seconds * 16000)) / 16000
    sound = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)[None]
    return mediagen.write_clip(path, frames, sound, 16000, with_audio=audio, with_video=video)


def test_bad_inputs_give_one_line_reasons(tmp_path, grid_clip, long_source):
    import mediagen
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is a text file\n" * 50)
    full = mediagen.write_clip(tmp_path / "full.mp4", *long_source)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    noface = _encode(tmp_path / "noface.mp4")
    noaudio = _encode(tmp_path / "noaudio.mp4", audio=False)
    novideo = _encode(tmp_path / "novideo.mkv", video=False)
    frames, audio, rate = long_source
    short = mediagen.write_clip(tmp_path / "short.mp4", frames[:14], audio[:, :int(0.56 * rate)], rate)
    cases = {
        empty: (MediaError, "empty"),
        text: (MediaError, "not a readable video"),
        truncated: (MediaError, "not a readable video"),
        noface: (NoFaceError, "no face"),
        noaudio: (MediaError, "no audio stream"),
        novideo: (MediaError, "no video stream"),
        short: (TooShortError, "too short|at least"),
        tmp_path: (MediaError, "folder"),
    }
    for path, (exc, pattern) in cases.items():
        with pytest.raises(exc, match=pattern):
            analyze(str(path), QMI)
    # the same through the CLI: exit 1, one JSON error line per bad clip, no traceback,
    # and the good clip between them is still analysed
    args = [str(empty), str(grid_clip), str(text), str(truncated), str(noface), str(noaudio), str(novideo),
            str(short)]
    r = _cli("analyze", "--json", "--method", "qmi", *args, timeout=300)
    assert r.returncode == 1
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["path"] for x in lines] == args
    assert [("error" in x) for x in lines] == [True, False, True, True, True, True, True, True]
    assert "Traceback" not in r.stderr


def test_unreadable_folder_and_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads everything; permission errors cannot be provoked")
    p = tmp_path / "locked.mp4"
    p.write_bytes(b"x")
    p.chmod(0)
    with pytest.raises(MediaError, match="permission"):
        analyze(str(p), QMI)


def _cli(*args, timeout=120):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "wlos_app", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_cli_text_output_and_usage_errors(grid_clip):
    r = _cli("analyze", str(grid_clip), "--method", "qmi")
    assert r.returncode == 0 and str(grid_clip) in r.stdout and "confidence" in r.stdout
    r = _cli("analyze", str(grid_clip), "--method", "nonsense")
    assert r.returncode == 2
    r = _cli("analyze", str(grid_clip), "--method", "wlos", "--model", "/nonexistent-folder")
    assert r.returncode == 1 and "no WLOS weights" in r.stderr and "Traceback" not in r.stderr


def test_export_then_reanalyse_reads_near_zero(made, tmp_path):
    src = made("late120_30fps.mp4", fps=30, audio_delay_s=0.12)
    out = tmp_path / "fixed.mp4"
    r = _cli("export", str(src), "-o", str(out), "--method", "qmi", timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.exists()
    res = analyze(str(out), QMI)
    assert abs(res.offset_ms) < 40.0, res.summary()
    # the explicit offset forms, and the refusal to overwrite
    r = _cli("export", str(src), "-o", str(out), "--offset-frames", "3.6")
    assert r.returncode == 2 and "exists" in r.stderr  # refused before any work
    r = _cli("export", str(src), "-o", str(src), "--offset-ms", "120", "--force")
    assert r.returncode == 2 and src.exists()


def test_audio_preview_plays_from_the_drift_corrected_place():
    """The preview's sample feeder (no sound device needed): picture time t with drift d starts at
    audio time t + d, with silence outside the clip."""
    from wlos_app.core.playback import AudioPreview
    rate = 1000
    samples = np.arange(1, 2001, dtype=np.float32)[None].repeat(2, 0)  # 2 s, stereo, value = index + 1
    p = AudioPreview(samples, rate)
    p._pos = int(round((0.5 + 0.12) * rate))  # what start(0.5, 0.12) sets before opening the stream
    out = np.empty((4, 2), np.float32)
    p._fill(out, 4, None, None)
    assert out[:, 0].tolist() == [621, 622, 623, 624]
    p._pos = -2  # audio early by more than the position: silence first
    p._fill(out, 4, None, None)
    assert out[:, 1].tolist() == [0, 0, 1, 2]
    p._pos = 1998
    p._fill(out, 4, None, None)
    assert out[:, 0].tolist() == [1999, 2000, 0, 0]
    six = AudioPreview(np.zeros((6, 10), np.float32), rate)
    assert six.samples.shape[0] == 1  # more than two channels are mixed down for the preview


def test_progress_says_how_long_is_left(monkeypatch):
    """Long clips: once 5 s have passed, each message ends with the time left at the rate so far."""
    from wlos_app.core import analysis as A
    now = [100.0]
    monkeypatch.setattr(A.time, "perf_counter", lambda: now[0])
    seen = []
    st = A._Stages(lambda f, m: seen.append((f, m)), None)
    st.report(0.01, "tracking the face: 3 s")  # too early to tell
    now[0] += 60.0
    st.report(0.2, "tracking the face: 720 s of 3600 s")  # 60 s for a fifth: 240 s to go
    now[0] += 240.0
    st.report(1.0, "done")
    assert [m for _, m in seen] == ["tracking the face: 3 s", "tracking the face: 720 s of 3600 s, about 4 min left",
                                    "done"]
    assert A.eta_words(42) == "about 40 s left" and A.eta_words(1) == "about 5 s left"


def test_without_face_frames_one_face_gives_the_same_answer_and_lets_them_go(grid_clip):
    """The CLI and batches keep no per-frame landmarks or crops (an hour's are 140 MB): the same
    answer, and the arrays are empty rather than stand-ins."""
    kept = analyze(str(grid_clip), AnalysisConfig(keep_audio=False))
    let_go = analyze(str(grid_clip), AnalysisConfig(keep_audio=False, keep_face_frames=False))
    assert let_go.offset_ms == kept.offset_ms and let_go.confidence == kept.confidence
    assert let_go.to_json()["face"] == kept.to_json()["face"]
    assert kept.face.crops.shape == (kept.face.n, 32, 32) and kept.face.landmarks.shape == (kept.face.n, 68, 2)
    assert let_go.face.crops.shape == (0, 32, 32) and let_go.face.landmarks.shape == (0, 68, 2)
    assert let_go.face.n == kept.face.n
    # the face's track in the clip's faces shares those arrays: it lets go of them too
    assert [t.face.crops.shape[0] for t in let_go.faces.tracks] == [0]
    assert [t.face.landmarks.shape[0] for t in let_go.faces.tracks] == [0]
    assert let_go.to_json().get("faces") == kept.to_json().get("faces")
