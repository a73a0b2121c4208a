"""Faces the models never trained on: the default estimator must follow the sound, and its
confidence must keep its promise on clips the calibration was not fitted on."""
from __future__ import annotations

import numpy as np
import pytest

from wlos_app import AnalysisConfig, analyze
from wlos_app.core import calibration


@pytest.fixture(scope="module")
def interview(unseen_dir):
    import mediagen
    return mediagen.load_clip(unseen_dir / "interview_sample.mp4")


def test_default_is_c3_track_and_it_is_calibrated():
    """The shipped calibration.json names it by its old name, "fusion": read as c3-track, and the
    old name is still taken for it."""
    from wlos_app.core.analysis import resolve_method
    assert resolve_method(AnalysisConfig()) == "c3-track"
    assert "c3-track" in calibration.load() and calibration.load()["c3-track"].method == "c3-track"
    assert AnalysisConfig(method="fusion").method == "c3-track"
    from wlos_app.cli import build_parser
    assert build_parser().parse_args(["analyze", "x.mp4", "--method", "fusion"]).method == "c3-track"


def test_default_follows_an_injected_shift_on_an_unseen_speaker(interview, tmp_path):
    """The interview clip (not GRID, 29.97 fps H.264) with its audio moved: whatever the source's
    own offset, every estimate moves with the injected shift, within a frame."""
    import mediagen
    got = {}
    for delay in (0.0, 0.2, -0.16):
        path = mediagen.write_clip(tmp_path / f"interview_{delay:+.2f}.mp4", *interview, fps=30000 / 1001,
                                   audio_delay_s=delay)
        res = analyze(str(path))
        assert res.method == "c3-track"
        got[delay] = res
    base = got[0.0].offset_ms
    for delay, res in got.items():
        assert abs(res.offset_ms - base - 1000 * delay) <= 40.0, (delay, res.summary(), base)
        # A calibrated probability, and reliable at every shift (0.88-0.90 when measured, 2026-12-08)
        assert res.calibrated and calibration.RELIABLE <= res.confidence < 1.0, res.summary()


def test_reliable_answers_are_right_on_unseen_speakers(unseen_dir, sample_dir):
    """Each unseen_dev clip with its audio moved by -6..+6 frames (cached features, so only the
    estimators run). A "reliable" answer (confidence >= 0.8) must be right, relative to the
    clip's own unshifted reading, nearly always; mismatched sound must not look reliable."""
    from trainer import dataset
    from trainer.calibrate import mismatched
    from trainer.evaluate import estimate_clip, shift_audio
    from wlos_app.core.analysis import _network
    clips = dataset.build(str(unseen_dir), workers=1)
    assert len(clips.clips) == 7
    nets = {"c3": _network("c3", None, None), "wlos": _network("wlos", None, None)}
    cals = calibration.load()

    def run(f):
        return estimate_clip(f, "c3-track", nets, calibrations=cals)

    right, conf = [], []
    for c in clips.clips:
        base = run(c.feats).offset_grid
        for s in (-6, -3, 3, 6):
            est = run(shift_audio(c.feats, s))
            right.append(abs(est.offset_grid - base - s) <= 1.0)
            conf.append(est.confidence)
    right, conf = np.array(right), np.array(conf)
    high = conf >= calibration.RELIABLE
    assert right.mean() >= 0.95, right  # the aim for unseen faces (relative)
    # The promise both ways. When measured (2026-12-08) all 28 were right and 24 reached 0.8
    # (0.71-0.97; the four below are the NEU clip's). A calibration that called nothing reliable
    # here would be useless on new faces; one that called a wrong answer reliable, untrue.
    assert high.mean() >= 0.6, (high.sum(), conf)
    assert right[high].mean() >= 0.9, (right[high].mean(), high.sum())
    # Another speaker's sentence (the six CREMA-D clips all say the same words, so are no test).
    others = dataset.build(str(sample_dir), workers=1).clips
    wrong_conf = np.array([run(mismatched(a.feats, b.feats)).confidence for a, b in zip(clips.clips, others)])
    # Cautious is not blind: right answers rank above mismatched sound (AUROC; 0.97 when measured).
    auroc = np.mean(conf[right][:, None] > wrong_conf[None, :])
    assert auroc >= 0.9, (auroc, conf[right], wrong_conf)
    assert np.mean(np.array(wrong_conf) < calibration.RELIABLE) >= 0.8, wrong_conf
