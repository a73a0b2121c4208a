import numpy as np
import pytest

from wlos_app.core import face, media


def grid_images(path):
    return [f.image for _, f in media.sample_on_grid(media.iter_video_frames(str(path)))]


@pytest.fixture(scope="module")
def track(grid_clip):
    return face.track_face(grid_images(grid_clip))


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
    kcf = face.track_face(grid_images(grid_clip), face.FaceConfig(tracker="kcf"))
    assert kcf.valid.all()
    assert np.abs(kcf.landmarks - track.landmarks).mean() < 2.0


def test_grey_opening_frames_then_face(grid_clip):
    imgs = grid_images(grid_clip)
    blank = [np.full_like(imgs[0], 128)] * 12
    t = face.track_face(blank + imgs[:20])
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
    t = face.track_face(frames)
    assert t.faces_seen == 2 and "largest of 2" in t.selection
    assert (t.boxes[t.valid][:, 0] < 300).all()  # the full-size face on the left


def test_no_face():
    t = face.track_face([np.full((288, 360), 90, np.uint8)] * 5)
    assert not t.valid.any() and t.faces_seen == 0
