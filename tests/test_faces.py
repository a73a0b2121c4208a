"""Several faces (issue 19): every face tracked, the one heard chosen by sync, shot changes, faces
that leave and return, a voice-over, and choosing a face by hand. Clips from tests/mediagen.py."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

import mediagen
from wlos_app import AnalysisConfig, analyze
from wlos_app.core import calibration, faces, heard, media, mouth
from wlos_app.core.heard import FaceChoiceError

DEFAULT = AnalysisConfig(keep_audio=False)


def grid_images(path):
    return [f.image for _, f in media.sample_on_grid(media.iter_video_frames(str(path), "gray"))]


@pytest.fixture(scope="module")
def clips(tmp_path_factory, sample_clips):
    """name -> path: the test media of issue 19."""
    d = tmp_path_factory.mktemp("faces")
    s = sample_clips
    make = {
        # s[0] heard (sound 4 frames late) on the right of another recording of s1, 1.1x larger
        "two.mp4": lambda p: mediagen.write_clip(p, *mediagen.side_by_side(s[0], s[5], heard_left=False),
                                                 audio_delay_s=0.16),
        # two silent faces, the sound of a third recording
        "voice_over_two.mp4": lambda p: mediagen.write_clip(
            p, *mediagen.side_by_side(s[1], s[6], heard_left=True)[:1], *mediagen.load_clip(s[8])[1:]),
        # one shot, a cut to another camera place (mirrored, further right), a cut back; each in sync
        "cut.mp4": lambda p: mediagen.write_clip(p, *mediagen.cut(
            mediagen.shot(s[2], width=480), mediagen.shot(s[3], mirror=True, pad_left=120),
            mediagen.shot(s[4], width=480))),
    }
    return {name: fn(d / name) for name, fn in make.items()}


def test_two_faces_are_tracked_and_the_heard_one_is_chosen(clips):
    # as the CLI runs it: with several faces the crops stay, core.heard reads them
    res = analyze(str(clips["two.mp4"]), AnalysisConfig(keep_audio=False, keep_face_frames=False))
    assert all(len(t.face.crops) == t.face.n for t in res.faces.tracks)
    assert [t.analysable for t in res.faces.tracks] == [True, True]
    heard = res.heard.face_id
    assert res.faces.place(res.faces.by_id(heard)) == "right"
    assert abs(res.offset_grid - 4.0) <= 1.0 and res.reliable, res.summary()
    assert "the person on the right" in res.summary()
    j = res.to_json()
    json.dumps(j)
    assert len(j["faces"]) == 2 and j["face_track"] == heard and j["face_matched"]
    share = {f["id"]: f["speaking_share"] for f in j["faces"]}
    assert share[heard] == 1.0 and share[1 - heard] == 0.0
    for f in j["faces"]:
        assert f["frames_seen"] == 75 and len(f["box"]) == 4 and "offset_ms" in f and "confidence" in f
    assert {b.get("face") for b in j["blocks"] if b["valid"]} == {heard}
    # The silent face's own reading is not trusted: its evidence has no clear peak.
    silent = next(f for f in j["faces"] if f["id"] != heard)
    assert silent["sync_score"] < j["speech_spans"][0]["scores"][str(heard)]


def test_a_face_asked_for_is_the_one_analysed(clips):
    two = str(clips["two.mp4"])
    res = analyze(two, DEFAULT)
    heard = res.faces.by_id(res.heard.face_id)
    other = next(t for t in res.faces.tracks if t.id != heard.id)
    forced = analyze(two, AnalysisConfig(keep_audio=False, face_id=other.id))
    assert forced.heard.face_id == other.id and not forced.reliable
    assert any("as asked: its lips do not clearly match" in w for w in forced.warnings), forced.warnings
    x, y = (heard.box[0] + heard.box[2]) / 2, (heard.box[1] + heard.box[3]) / 2
    at = analyze(two, AnalysisConfig(keep_audio=False, face_at=(float(x), float(y))))
    assert at.heard.face_id == heard.id and at.offset_grid == pytest.approx(res.offset_grid)
    with pytest.raises(FaceChoiceError, match="no face 7; its analysable faces are 0, 1"):
        analyze(two, AnalysisConfig(keep_audio=False, face_id=7))
    with pytest.raises(FaceChoiceError, match="no face at x=2, y=2"):
        analyze(two, AnalysisConfig(keep_audio=False, face_at=(2.0, 2.0)))


def test_cli_face_flags(clips):
    from test_analysis import _cli
    two = str(clips["two.mp4"])
    r = _cli("analyze", two, "--face", "7", "--method", "qmi")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: {two}: no face 7; its analysable faces are 0, 1"]
    r = _cli("analyze", two, "--face-at", "nowhere")
    assert r.returncode == 2 and "X,Y" in r.stderr and "Traceback" not in r.stderr
    r = _cli("analyze", two, "--face", "0", "--face-at", "1,1")
    assert r.returncode == 2 and "not allowed with" in r.stderr


def test_voice_over_over_silent_faces_is_not_reliable(clips):
    res = analyze(str(clips["voice_over_two.mp4"]), DEFAULT)
    assert len(res.faces.analysable) == 2
    assert not res.heard.matched and res.confidence < calibration.RELIABLE
    assert "no face clearly matches the sound" in res.summary()
    assert res.to_json()["face_matched"] is False
    best = max(res.heard.own.values(), key=lambda o: o.score)
    assert any(f"the clearest, face {best.track.id} " in w and f"scores {best.score:.2f} where 1.00" in w
               for w in res.warnings), res.warnings


def test_no_clear_span_the_whole_clip_names_the_face_whose_lips_match(clips, monkeypatch):
    # Real people's heard spans often score short of CLEAR (docs/design.md); with no span clear, the
    # faces' own calibrated confidences, against each other, choose. CLEAR out of reach makes every
    # span unclear here.
    monkeypatch.setattr(heard, "CLEAR", 99.0)
    res = analyze(str(clips["two.mp4"]), DEFAULT)
    assert all(sp.face in (None, res.heard.face_id) for sp in res.heard.spans)
    face = res.faces.by_id(res.heard.face_id)
    assert res.faces.place(face) == "right" and res.heard.matched
    assert abs(res.offset_grid - 4.0) <= 1.0 and res.reliable, res.summary()
    own = {tid: o.uncapped.confidence for tid, o in res.heard.own.items()}
    odds = {tid: c / (1 - c) for tid, c in own.items()}
    assert res.confidence == pytest.approx(odds[face.id] / (1 + sum(odds.values())))
    assert any("by its lips over the whole clip" in w for w in res.warnings), res.warnings
    assert "the person on the right" in res.summary()
    # ... and two faces that did not make the sound still match nothing
    vo = analyze(str(clips["voice_over_two.mp4"]), DEFAULT)
    assert not vo.heard.matched and not vo.reliable


def test_a_face_heard_in_its_spans_but_unclear_over_the_clip_is_weighed_against_the_others(clips, monkeypatch):
    # Its own reading is capped when its whole-clip score is short of CLEAR; the whole-clip evidence
    # against the other face decides whether the answer is trusted after all.
    own = heard._own

    def unclear(ex, t, run, alone=True):
        o = own(ex, t, run, alone)
        if o.uncapped is not None and o.score >= heard.CLEAR:
            o.score, o.estimate = heard.CLEAR - 0.1, heard._capped(o.uncapped, "")[0]
        return o
    monkeypatch.setattr(heard, "_own", unclear)
    res = analyze(str(clips["two.mp4"]), DEFAULT)
    tid = res.heard.face_id
    assert res.faces.place(res.faces.by_id(tid)) == "right" and res.heard.spans[0].face == tid
    odds = {t: o.uncapped.confidence / (1 - o.uncapped.confidence) for t, o in res.heard.own.items()}
    assert res.confidence == pytest.approx(odds[tid] / (1 + sum(odds.values())))
    assert res.reliable and res.heard.own[tid].estimate is res.heard.own[tid].uncapped


def test_whole_clip_evidence_is_one_face_against_the_others():
    def own(tid, conf):
        est = SimpleNamespace(confidence=conf)
        return heard.Own(SimpleNamespace(id=tid), None, [], est, uncapped=est)

    def given_one(ps, k):  # P(face k right, the others wrong | no two right), by enumeration
        both = np.prod([1 - p for p in ps]) + sum(p * np.prod([1 - q for j, q in enumerate(ps) if j != i])
                                                  for i, p in enumerate(ps))
        return ps[k] * np.prod([1 - q for j, q in enumerate(ps) if j != k]) / both
    o, p = heard.whole_clip({0: own(0, 0.3), 1: own(1, 0.95)})
    assert o.track.id == 1 and p == pytest.approx(given_one([0.3, 0.95], 1))  # 0.93
    assert heard.whole_clip({0: own(0, 0.6), 1: own(1, 0.9)}) is None  # 0.75: the other face may match
    assert heard.whole_clip({0: own(0, 0.01), 1: own(1, 0.79)}) is None  # short of RELIABLE by itself
    assert heard.whole_clip({1: own(1, 0.99)}) is None  # one face read: nothing to weigh it against
    ps = [0.02, 0.97, 0.1]
    three = heard.whole_clip({i: own(i, p) for i, p in enumerate(ps)})
    assert three[0].track.id == 1 and three[1] == pytest.approx(given_one(ps, 1))


def test_cut_between_shots(clips):
    res = analyze(str(clips["cut.mp4"]), DEFAULT)
    assert res.faces.cuts == [75, 150]
    # No block reads flow across a cut.
    for c in res.faces.cuts:
        across = [i for i, t in enumerate(res.starts) if t < c < t + 10]  # flow c: crop c-1 -> crop c
        assert across and all(res.status[i] != "ok" for i in across)
    # The same person in every shot: found again by the face descriptor, one track.
    assert len(res.faces.tracks) == 1 and res.faces.tracks[0].frames_seen == 225
    # Each shot in sync: the drift is 0 within a frame on both sides of each cut.
    for a, b in ((0.4, 2.6), (3.4, 5.6), (6.4, 8.6)):
        d = res.drift_ms_at(np.arange(a, b, 0.2)) / 40.0
        assert np.abs(d).max() <= 1.0, (a, b, d)
    assert res.reliable, res.summary()


def test_a_face_that_leaves_and_returns_is_one_track(sample_clips):
    f, _, _ = mediagen.load_clip(sample_clips[0])
    f2, _, _ = mediagen.load_clip(sample_clips[1])
    frames = f + [(3.0 + t, im) for t, im in f2]
    gone = mediagen.away(frames, 2.0, 3.2, moved_px=140)  # gone 1.2 s, back 140 px further right
    imgs = [_gray(im) for _, im in gone]
    tr = faces.track_faces(imgs)
    assert len(tr.tracks) == 1, [(t.id, t.first, t.last) for t in tr.tracks]
    v = tr.tracks[0].face.valid
    assert v[:50].all() and not v[52:80].any() and v[82:].all()


def _gray(rgb):
    import cv2
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def test_one_face_is_tracked_as_the_single_face_tracker_does(grid_clip):
    imgs = grid_images(grid_clip)
    one = mouth.track_face(imgs)
    tr = faces.track_faces(imgs)
    assert len(tr.tracks) == 1 and tr.cuts == []
    t = tr.tracks[0].face
    assert np.array_equal(t.crops, one.crops) and np.array_equal(t.valid, one.valid)
    assert np.allclose(t.landmarks, one.landmarks, equal_nan=True)


def test_small_faces_are_listed_not_analysed(sample_clips):
    frames, _, _ = mediagen.side_by_side(sample_clips[0], sample_clips[5], heard_left=True, scale=1.3)
    imgs = [_gray(im) for _, im in frames[:30]]
    tr = faces.track_faces(imgs, tcfg=faces.TrackingConfig(min_face_px=125))
    assert len(tr.tracks) == 2
    small = [t for t in tr.tracks if not t.analysable]
    assert len(small) == 1 and "too small" in small[0].reason and small[0].box[2] < 360


@pytest.fixture(scope="module")
def cutaway(sample_clips, unseen_dir, tmp_path_factory):
    """s1 speaking, a cutaway to another person (not speaking: s1's next sentence goes on over
    their picture), back to s1: two faces never in view together."""
    other, _, _ = mediagen.load_clip(unseen_dir / "interview_sample.mp4")
    shots = []
    for i, clip in enumerate(sample_clips[:3]):
        f, a, rate = mediagen.load_clip(clip)
        if i == 1:
            f = other
        shots.append((mediagen.framed(f, 480, 360, 3.0), a, rate))
    return mediagen.write_clip(tmp_path_factory.mktemp("cutaway") / "cutaway.mp4", *mediagen.cut(*shots))


def test_a_cutaway_to_a_silent_face_is_not_the_one_heard(cutaway):
    """The cutaway's speech matches no face; the drift comes from the s1 shots, 0 within a frame on
    both sides."""
    res = analyze(str(cutaway), DEFAULT)
    assert len(res.faces.analysable) == 2 and res.faces.cuts == [75, 150]
    s1 = res.faces.tracks[0].id
    assert [sp.face for sp in res.heard.spans] == [s1, None, s1], [sp.scores for sp in res.heard.spans]
    for a, b in ((0.4, 2.6), (6.4, 8.6)):
        assert np.abs(res.drift_ms_at(np.arange(a, b, 0.2)) / 40.0).max() <= 1.0
    j = res.to_json()
    share = {f["id"]: f["speaking_share"] for f in j["faces"]}
    assert share[s1] > 0.6 and share[1 - s1] == 0.0
    assert {b.get("face") for b in j["blocks"] if b["valid"]} == {s1}


def test_shots_with_no_clear_span_are_heard_where_the_face_reads_reliably(cutaway, monkeypatch):
    # Real people's spans often score short of CLEAR; a face alone in its shots is then heard in them
    # when its own reading is reliable, as a single face would be, and a cutaway's face is not.
    monkeypatch.setattr(heard, "CLEAR", 99.0)
    res = analyze(str(cutaway), DEFAULT)
    s1 = res.faces.tracks[0].id
    assert [sp.face for sp in res.heard.spans] == [s1, None, s1], [sp.scores for sp in res.heard.spans]
    own = {tid: o.uncapped.confidence for tid, o in res.heard.own.items()}
    assert own[s1] >= calibration.RELIABLE > own[1 - s1]
    assert res.reliable and res.heard.matched, res.summary()
    for a, b in ((0.4, 2.6), (6.4, 8.6)):
        assert np.abs(res.drift_ms_at(np.arange(a, b, 0.2)) / 40.0).max() <= 1.0


def test_an_answer_from_some_spans_rests_on_faces_that_read_reliably_over_their_shots(cutaway, monkeypatch):
    # The cutaway's spans are dropped, so the answer comes from s1's spans only; held to a bar its
    # own reading cannot reach, s1 no longer carries a reliable answer (a chance span under a
    # voice-over is the case this guards).
    monkeypatch.setattr(heard, "RELIABLE", 0.999)
    res = analyze(str(cutaway), DEFAULT)
    s1 = res.faces.tracks[0].id
    assert [sp.face for sp in res.heard.spans] == [s1, None, s1]
    assert not res.reliable
    assert any(f"face {s1} matches the sound in part of its shots only" in w for w in res.warnings), res.warnings
