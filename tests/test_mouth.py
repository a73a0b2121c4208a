import numpy as np
import pytest

from wlos_app.core import media, mouth


def grid_images(path):
    return [f.image for _, f in media.sample_on_grid(media.iter_video_frames(str(path)))]


@pytest.fixture(scope="module")
def track(grid_clip):
    return mouth.track_face(grid_images(grid_clip))


def test_track_every_frame(track):
    assert track.n == 75 and track.valid.all()
    assert track.crops.shape == (75, 32, 32) and track.crops.dtype == np.uint8
    assert track.landmarks.shape == (75, 68, 2) and track.faces_seen == 1
    # landmarks inside their face box (with a margin for the chin)
    b = track.boxes
    inside = ((track.landmarks[..., 0] >= b[:, None, 0] - 10) & (track.landmarks[..., 0] <= b[:, None, 2] + 10))
    assert inside.mean() > 0.97
    # detection ran on the first frame and a few local checks, not on every frame
    assert 1 <= track.detections <= 5


def _in_crop(track, idx):
    """Landmarks idx in crop pixel coordinates, per frame."""
    out = []
    for k in range(track.n):
        m = np.vstack([track.crop_to_image[k], [0, 0, 1]])
        inv = np.linalg.inv(m)[:2]
        p = track.landmarks[k, idx]
        out.append(p @ inv[:, :2].T + inv[:, 2])
    return np.array(out)


def test_alignment_follows_rigid_points_not_lips(track):
    rigid = _in_crop(track, [31, 33, 35])  # nose base: rigid
    lower_lip = _in_crop(track, [57])  # bottom of the lower lip: moves when speaking
    assert rigid[..., 1].std(0).max() < 0.6  # nose stays put in the crop (sub-pixel)
    assert lower_lip[..., 1].std() > 3 * rigid[..., 1].std(0).max()  # the lips still move
    # the lips sit inside the crop
    mouth = _in_crop(track, list(range(48, 68)))
    assert (mouth >= 0).all() and (mouth < 32).all()


def test_kcf_tracker_agrees(grid_clip, track):
    kcf = mouth.track_face(grid_images(grid_clip), mouth.FaceConfig(tracker="kcf"))
    assert kcf.valid.all()
    assert np.abs(kcf.landmarks - track.landmarks).mean() < 2.0


def test_grey_opening_frames_then_face(grid_clip):
    imgs = grid_images(grid_clip)
    blank = [np.full_like(imgs[0], 128)] * 12
    t = mouth.track_face(blank + imgs[:20])
    assert not t.valid[:12].any() and t.valid[12:].all()


def test_two_faces_picks_largest_and_says_so(grid_clip):
    import cv2
    imgs = grid_images(grid_clip)[:15]
    frames = []
    for im in imgs:
        small = cv2.resize(im, None, fx=0.75, fy=0.75)
        canvas = np.full((288, 360 + small.shape[1]), 128, np.uint8)
        canvas[:, :360] = im
        canvas[:small.shape[0], 360:] = small
        frames.append(canvas)
    t = mouth.track_face(frames)
    assert t.faces_seen == 2 and "largest of 2" in t.selection
    assert (t.boxes[t.valid][:, 0] < 300).all()  # the full-size face on the left


def test_no_face():
    t = mouth.track_face([np.full((288, 360), 90, np.uint8)] * 5)
    assert not t.valid.any() and t.faces_seen == 0


def test_landmark_frames_interpolate_a_still_face(grid_clip, track):
    """The default runs the predictor on every 3rd frame: the frames between a still face's
    landmark frames are interpolated, and their crops hardly differ from every frame's own."""
    every = mouth.track_face(grid_images(grid_clip), mouth.FaceConfig(landmark_every=1))
    assert not every.interpolated.any()
    assert track.interpolated.any() and track.valid.all()
    assert not track.interpolated[::3].any()  # landmark frames are never interpolated
    assert track.timings["landmarks"] < every.timings["landmarks"]
    diff = np.abs(track.crops.astype(int) - every.crops.astype(int))
    assert diff.mean() < 2.0  # grey levels of 255


def _sliding(grid_clip, px: float = 2.0, n: int = 40):
    """The sample face sliding `px` px a frame to the right (a face that moves)."""
    import cv2
    return [cv2.warpAffine(im, np.float32([[1, 0, px * k - 40], [0, 1, 0]]), (im.shape[1], im.shape[0]),
                           borderMode=cv2.BORDER_REPLICATE) for k, im in enumerate(grid_images(grid_clip)[:n])]


def _params(t, k):
    return mouth._fit_similarity(t.landmarks[k, mouth.RIGID_IDX].astype(np.float64), mouth.RIGID_TEMPLATE)


def test_a_moving_face_gets_its_own_landmarks(grid_clip):
    """A face sliding 2 px a frame moves the crop by more than still_px between landmark frames:
    with follow="landmarks" every frame then runs the predictor, and the alignment follows the nose."""
    t = mouth.track_face(_sliding(grid_clip), mouth.FaceConfig(follow="landmarks"))
    assert t.valid.all() and not t.interpolated.any()
    nose = _in_crop(t, [31, 33, 35])
    assert nose[..., 0].std(0).max() < 0.8  # the crop moved with the face


def test_a_moving_face_is_followed_by_flow_between_landmark_frames(grid_clip):
    """By default (follow="lk") the frames between a moving face's landmark frames take their
    rigid points from Lucas-Kanade flow: no predictor call of their own, an alignment within a
    fraction of a crop pixel of the predictor's own on every frame, and the crop still on the nose."""
    frames = _sliding(grid_clip)
    every = mouth.track_face(frames, mouth.FaceConfig(landmark_every=1))
    t = mouth.track_face(frames)
    assert t.valid.all() and t.interpolated[1::3].all() and not t.interpolated[::3].any()
    assert t.timings["landmarks"] < every.timings["landmarks"]
    off = [mouth.crop_motion(_params(every, k), _params(t, k)) for k in range(len(frames)) if t.interpolated[k]]
    assert np.median(off) < 0.5 and max(off) < 1.5
    nose = _in_crop(t, [31, 33, 35])
    assert nose[..., 0].std(0).max() < 0.8


def test_flow_that_loses_the_face_falls_back_to_the_predictor(grid_clip):
    """Frames between landmark frames that flow cannot follow (here one of them is blank, so the
    flow loses every point) run the predictor themselves, as a moving face did before."""
    frames = _sliding(grid_clip, n=13)
    frames[4] = np.full_like(frames[4], 128)
    t = mouth.track_face(frames)
    assert not t.interpolated[[4, 5]].any()  # between landmark frames 3 and 6: the predictor's own
    assert t.interpolated[[1, 2, 7, 8]].all()  # the other gaps: followed


def test_an_unknown_follow_mode_is_refused():
    """A misspelt FaceConfig.follow is an error, not the predictor on every moving frame in silence."""
    with pytest.raises(ValueError, match="unknown follow"):
        mouth.FaceTracker(mouth.FaceConfig(follow="flow"))


def test_crop_motion_measures_crop_pixels():
    p = mouth._fit_similarity(mouth.RIGID_TEMPLATE * 80 + 100, mouth.RIGID_TEMPLATE)
    q = mouth._fit_similarity(mouth.RIGID_TEMPLATE * 80 + [103, 100], mouth.RIGID_TEMPLATE)
    # 3 image px at 80 px per eye distance is 3 / 80 * 32 / MOUTH_SIDE crop px
    assert mouth.crop_motion(p, p) < 1e-9
    assert abs(mouth.crop_motion(p, q) - 3 / 80 * mouth.CROP / mouth.MOUTH_SIDE) < 1e-6


def test_cli_landmark_every_reaches_the_face_stage():
    from wlos_app import cli
    args = cli.build_parser().parse_args(["analyze", "x.mp4", "--landmark-every", "1"])
    assert cli._config(args).face.landmark_every == 1
    args = cli.build_parser().parse_args(["analyze", "x.mp4"])
    assert cli._config(args).face.landmark_every == mouth.FaceConfig().landmark_every == 3
