"""Nothing the user did not ask to write is touched, and every message says what it means (issue
35): what a new user tried on the command line, each case as they typed it."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from wlos_app.cli import main
from wlos_app.core import batch


def md5(p) -> str:
    return hashlib.md5(Path(p).read_bytes()).hexdigest()


@pytest.fixture()
def clip(grid_clip, tmp_path) -> Path:
    """A copy of a sample clip, so that a write into it would be seen and harm nothing."""
    p = tmp_path / "self.mp4"
    p.write_bytes(Path(grid_clip).read_bytes())
    return p


def _refused(argv, capsys, code=2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err  # one line
    return err


def test_out_never_appends_to_a_video_or_a_file_it_did_not_make(clip, tmp_path, capsys):
    other = tmp_path / "other.mp4"
    other.write_bytes(clip.read_bytes())
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    before = {p: md5(p) for p in (clip, other, notes)}
    assert "being analysed" in _refused(["analyze", str(clip), "--out", str(clip)], capsys)
    for target in (other, notes):
        assert "not a results file" in _refused(["analyze", str(clip), "--out", str(target)], capsys)
    assert {p: md5(p) for p in before} == before


def test_out_as_a_folder_or_in_a_missing_folder_is_one_line_and_makes_nothing(clip, tmp_path, capsys):
    assert "is a folder" in _refused(["analyze", str(clip), "--out", str(tmp_path)], capsys)
    # the same rule as export -o: a missing folder is refused, not made
    a = _refused(["analyze", str(clip), "--out", str(tmp_path / "nodir" / "r.jsonl")], capsys)
    b = _refused(["export", str(clip), "-o", str(tmp_path / "nodir" / "x.mp4"), "--offset-ms", "40"], capsys)
    assert "output folder does not exist" in a and "output folder does not exist" in b
    assert not (tmp_path / "nodir").exists()


def test_a_results_file_of_its_own_is_resumed_and_a_cut_line_removed(clip, tmp_path, capsys):
    from wlos_app.core import outputs
    out = tmp_path / "r.jsonl"
    assert main(["analyze", str(clip), "--out", str(out), "--summary-only", "--method", "qmi"]) == 0
    capsys.readouterr()
    first = out.read_text()
    assert outputs.is_results_file(str(out))
    # a kill in the middle of the next line leaves half of it
    with open(out, "a") as f:
        f.write('{"path": "/somewhere/else.mp4", "fps": 25.0, "off')
    assert outputs.is_results_file(str(out))
    again = tmp_path / "again.mp4"
    again.write_bytes(clip.read_bytes())
    assert main(["analyze", str(clip), str(again), "--out", str(out), "--summary-only", "--method", "qmi"]) == 0
    lines = out.read_text().splitlines()
    assert out.read_text().startswith(first)
    assert [json.loads(x)["path"] for x in lines] == [str(clip), str(again)]  # every line whole


def test_a_file_cut_in_its_first_line_is_still_recognised(tmp_path):
    from wlos_app.core import outputs
    p = tmp_path / "r.jsonl"
    p.write_bytes(b'{"path": "/a.mp4", "fps"')
    assert outputs.is_results_file(str(p))
    p.write_bytes(b'{"path": "/a.mp4", "fps"\nmore')  # not what a cut write leaves
    assert not outputs.is_results_file(str(p))
    p.write_bytes(b"")
    assert outputs.is_results_file(str(p))


def test_parquet_settings_train_and_cases_follow_the_same_rule(clip, tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps({"path": "/a.mp4", "error": "/a.mp4: no such file"}) + "\n")
    video = tmp_path / "holiday.mp4"
    video.write_bytes(clip.read_bytes())
    before = md5(clip)
    assert "not a Parquet file" in _refused(["analyze", str(clip), "--out", str(results), "--parquet", str(video)],
                                            capsys)
    assert md5(video) == before
    assert "not a settings (INI) file" in _refused(["--settings", str(clip)], capsys)
    assert "is a file" in _refused(["train", str(tmp_path), "--out", str(clip)], capsys)
    assert "output folder does not exist" in _refused(["train", str(tmp_path), "--out", str(tmp_path / "a" / "b")],
                                                      capsys)
    assert "not a cases file" in _refused(["calibrate", str(tmp_path), "--model", str(tmp_path), "--cases",
                                           str(clip)], capsys)
    assert md5(clip) == before


@pytest.mark.parametrize("typo,meant", [("anlyze", "analyze"), ("exprot", "export"), ("analyse", None)])
def test_a_mistyped_command_is_named_and_analyse_is_accepted(clip, capsys, typo, meant):
    if meant:
        err = _refused([typo, str(clip)], capsys)
        assert f"unknown command '{typo}' (did you mean {meant}?)" in err
    else:
        assert main([typo, str(clip), "--method", "qmi"]) == 0
        assert str(clip) in capsys.readouterr().out


def test_no_display_is_one_line_naming_the_command_line(clip, monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    for argv in ([], [str(clip)]):
        err = _refused(argv, capsys)
        assert "no display" in err and "wlos-app analyze" in err
    monkeypatch.setenv("DISPLAY", ":97")  # set, but no server behind it
    assert "does not answer" in _refused([str(clip)], capsys)


def test_a_still_image_is_not_a_video(tmp_path, capsys):
    import cv2
    import numpy as np
    for ext in ("png", "jpg"):
        cv2.imwrite(str(tmp_path / f"pic.{ext}"), np.zeros((64, 64, 3), np.uint8))
        assert main(["analyze", str(tmp_path / f"pic.{ext}")]) == 1
        assert "is a still image" in capsys.readouterr().err


@pytest.fixture(scope="module")
def voice_over(sample_clips, tmp_path_factory) -> Path:
    """A face with another person's voice: the analysis can only call it unreliable."""
    import mediagen
    return mediagen.write_clip(tmp_path_factory.mktemp("vo") / "vo.mp4",
                               *mediagen.voice_over(sample_clips[0], sample_clips[5]))


def test_export_of_an_unreliable_answer_needs_its_own_flag(voice_over, tmp_path, capsys):
    out = tmp_path / "vo.synced.mp4"
    assert main(["export", str(voice_over), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "unreliable (confidence 0." in err and "nothing was written" in err and "--accept-unreliable" in err
    assert not out.exists() and os.listdir(tmp_path) == []
    assert main(["export", str(voice_over), "-o", str(out), "--accept-unreliable"]) == 0
    assert out.exists()
    said = capsys.readouterr().out
    assert "the sound moved" in said and ("earlier" in said or "later" in said)
    # a typed drift is the user's own: no question
    assert main(["export", str(voice_over), "-o", str(tmp_path / "typed.mp4"), "--offset-ms", "-113"]) == 0
    assert "the sound moved 113 ms later" in capsys.readouterr().out


def test_one_verdict_for_every_surface():
    from wlos_app.core import verdict
    v = verdict.verdict(-28.0, 0.95, True, 25.0)
    assert (v.kind, v.words) == ("offset", "audio is 28 ms early")  # as the table counts it
    assert verdict.verdict(19.0, 0.95, True, 25.0).kind == "in sync"
    unsure = verdict.verdict(4.0, 0.49, False, 25.0)
    assert unsure.kind == "unreliable" and "in sync" not in unsure.line()
    assert "best guess" in unsure.numbers and unsure.advice
    assert "-0" not in verdict.verdict(-1.0, 0.95, True, 25.0).line()
    assert verdict.moved(-0.113) == "the sound moved 113 ms later"
    assert verdict.moved(0.12) == "the sound moved 120 ms earlier"


def test_a_real_clip_reads_the_same_in_its_summary_its_json_and_the_table(clip, capsys):
    from wlos_app.core import verdict
    assert main(["analyze", str(clip), "--json", "--summary-only"]) == 0
    rec = json.loads(capsys.readouterr().out)
    v = verdict.of_record(rec)
    assert rec["summary"].startswith(v.words) and rec["outcome"] == v.kind == batch.kind_of(rec)
    # blocks as a reader counts them: seconds of the clip, not overlapping 10-frame windows
    assert f"speech read in {rec['seconds_used']:.1f} of {rec['duration_s']:.1f} s" in rec["summary"]
    assert "/" not in rec["summary"].split("[")[-1]


def test_ctrl_c_in_a_batch_says_what_is_saved_and_how_to_go_on(clip, tmp_path, monkeypatch, capsys):
    second = tmp_path / "second.mp4"
    second.write_bytes(clip.read_bytes())
    out = tmp_path / "r.jsonl"

    def one_then_interrupt(paths, cfg, out_path, **kw):
        sink = batch.Sink(paths, out_path)
        sink.finish({"path": paths[0], "reliable": True, "offset_ms": 0.0, "fps": 25.0})
        sink.close()
        raise KeyboardInterrupt
    monkeypatch.setattr(batch, "run_batch", one_then_interrupt)
    assert main(["analyze", str(clip), str(second), "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"1 of 2 clips are saved in {out}" in err and "same command again" in err
