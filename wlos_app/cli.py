"""`wlos-app`: the desktop window (no command, or clips to open), or a command line for
analysis, export, training and evaluation.

Exit status: 0 all clips done, 1 at least one clip failed (its reason is printed), 2 bad usage,
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Callable

from .errors import WlosError

EPILOG = """drift and offsets: positive = audio late (audio lags the picture), in milliseconds
and in the clip's own frames. Examples:
  wlos-app                       (the desktop window)
  wlos-app talk.mp4              (the window, with talk.mp4 open)
  wlos-app analyze talk.mp4 other.mov --json
  wlos-app analyze ~/dataset/ --jobs 2 --out results.jsonl   (a resumable batch)
  wlos-app export talk.mp4 -o talk.synced.mp4
  wlos-app export talk.mp4 -o out.mp4 --offset-ms -120
  wlos-app train ~/clips/ --out my_model/
  wlos-app train ~/clips/ --init default --out ft/
  wlos-app eval ~/clips/ --model ft/"""

# `wlos-app analyze --help`; every example line is also in docs/usage.md (tests/test_docs.py checks).
ANALYZE_EPILOG = """drift: positive = audio late, in milliseconds and in the clip's own frames. Examples:
  wlos-app analyze talk.mp4 other.mov --json      # one JSON object per line, one per clip
  wlos-app analyze talk.mp4 --constant             # one drift for the whole clip, no track
  wlos-app analyze talk.mp4 --max-offset-ms 5000   # search up to 5 s either way (default 2 s)
  wlos-app analyze lecture.mp4 --json --summary-only   # drift track of a long recording, no block list
  wlos-app analyze lecture.mp4 --full              # read every frame, not windows (recordings over 2 min)
  wlos-app analyze ~/dataset/ --jobs 2 --out results.jsonl --summary-only   # a batch; rerun to resume
  wlos-app analyze talk.mp4 --model ft/              # with a model you trained
  wlos-app analyze panel.mp4 --face 1                # analyse face 1 only (ids: `faces` in --json)
  wlos-app analyze panel.mp4 --face-at 640,300       # analyse the face at this point of the picture
More, and every JSON field: docs/usage.md."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM), with a message that says what was kept and how to go on."""


def _int_at_least(least: int, not_int: str, too_low: str) -> Callable[[str], int]:
    """An argparse type: a whole number >= least; the messages are formats of `text` and `v`."""
    def convert(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(not_int.format(text=text)) from None
        if v < least:
            raise argparse.ArgumentTypeError(too_low.format(v=v))
        return v
    return convert


_positive_int = _int_at_least(1, "{text!r} is not a whole number", "{v} is not at least 1")


def _finite_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def _positive_float(text: str) -> float:
    v = _finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not above 0")
    return v


def _point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not X,Y (two numbers, pixels of the picture)") from None
    if not (math.isfinite(x) and math.isfinite(y)) or x < 0 or y < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: X and Y are pixels from the top left, 0 or more")
    return x, y


_audio_track = _int_at_least(0, "{text!r} is not a track number", "{v}: audio tracks are counted from 0")
_face_id = _int_at_least(0, "{text!r} is not a face number (the faces' ids in --json)",
                         "{v}: face numbers start at 0")


def _analysis_args(p: argparse.ArgumentParser) -> None:
    from .core.mouth import FaceConfig
    from .core.methods import DEFAULT, METHODS, canonical
    from .core.methods.search import MAX_OFFSET_MS
    # type runs before the choices are checked: an old name ("fusion") is taken as today's
    p.add_argument("--method", default="auto", choices=["auto", *METHODS], type=canonical,
                   help=f"estimator (auto: {DEFAULT}, C3's sliding window over +-2 s with a drift track, when the "
                        f"weights are installed; formerly called fusion, a name still accepted; "
                        f"{', '.join(m for m in METHODS if m != DEFAULT)}: the paper's methods)")
    p.add_argument("--model", metavar="DIR", help="folder holding wlos.pt / c3.pt (default: shipped weights)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="where the networks run (default: CUDA if available)")
    p.add_argument("--stride", type=_positive_int, default=1, help="grid frames between block starts (default 1)")
    p.add_argument("--tracker", choices=["landmarks", "kcf"], default="landmarks",
                   help="face tracking between detections (default: landmarks)")
    p.add_argument("--landmark-every", type=_positive_int, default=FaceConfig.landmark_every, metavar="N",
                   help=f"run the face landmarks on every N-th frame and interpolate the frames between where the "
                        f"face is still (default {FaceConfig.landmark_every}; 1: every frame, as the paper)")
    p.add_argument("--max-offset-ms", type=_positive_float, default=MAX_OFFSET_MS, metavar="MS",
                   help="the default estimator finds drifts up to this far either way (default 2000); it searches "
                        "9 frames (360 ms) further, so that a drift at the limit is not at the search's edge, and "
                        "at most a third of the clip; the paper's methods search +-9 frames")
    p.add_argument("--constant", action="store_true",
                   help="fit one drift for the whole clip (no linear or piecewise drift track)")
    p.add_argument("--full", action="store_true",
                   help="read every frame of a long recording (default: recordings over 2 minutes are read in "
                        "8 s windows spread over them, more where the drift moves; see docs/drift.md)")
    p.add_argument("--audio-track", type=_audio_track, default=0, metavar="N",
                   help="the audio track to analyse, counted from 0 (default 0; a recording with several, as OBS "
                        "writes them: the one with the voice); export moves every track alike")
    f = p.add_mutually_exclusive_group()
    f.add_argument("--face", type=_face_id, metavar="N",
                   help="analyse face N only (the ids of `faces` in --json; default: the face that is heard)")
    f.add_argument("--face-at", type=_point, metavar="X,Y",
                   help="analyse only the face at this point of the picture (pixels from the top left)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wlos-app", description="Find and fix audio-video drift in speech videos.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    a = sub.add_parser("analyze", help="estimate the drift of one or more clips, or of every clip in folders",
                       epilog=ANALYZE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("clips", nargs="+", metavar="CLIP_OR_FOLDER")
    a.add_argument("--json", action="store_true", help="one JSON object per clip per line on stdout")
    a.add_argument("--curves", default="", metavar="M[,M]",
                   help="also compute these sliding-window curves (qmi, c3) for every block")
    a.add_argument("--block-curves", action="store_true", help="include per-block curves in the JSON")
    a.add_argument("--summary-only", "--no-blocks", action="store_true", dest="summary_only",
                   help="JSON without the per-block list (one short line per clip, also for long clips)")
    a.add_argument("--jobs", type=_positive_int, metavar="N",
                   help="analyse N clips at once in worker processes (a batch; default 1)")
    a.add_argument("--out", metavar="FILE.jsonl",
                   help="append each clip's JSON line to FILE as it finishes; a rerun skips the clips "
                        "already there; prints a progress bar and a table of outcomes")
    a.add_argument("--cluster", metavar="ADDRESS",
                   help="run the batch on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786; "
                        "or set DASK_SCHEDULER_ADDRESS); workers with --resources GPU=1 take the networks")
    a.add_argument("--parquet", metavar="FILE.parquet",
                   help="with --out: at the end, also write every record in the JSONL as a Parquet table")
    a.add_argument("--retry-failed", action="store_true", help="with --out: analyse the failed clips again")
    a.add_argument("--timeout-s", type=_positive_float, metavar="S",
                   help="in a batch: a clip with no answer after S seconds is recorded as failed "
                        "(counted from when it is handed to a worker, a new worker's start included)")
    _analysis_args(a)

    e = sub.add_parser("export", help="write a copy with the audio moved by the drift; picture not re-encoded")
    e.add_argument("clip", metavar="CLIP")
    e.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (.mp4 .mov .m4v .mkv .webm .avi .mpg)")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--offset-frames", type=_finite_float, metavar="N",
                   help="the drift to undo instead of the analysed one, in the clip's frames (positive = audio "
                        "late: the sound is moved N frames earlier)")
    g.add_argument("--offset-ms", type=_finite_float, metavar="M",
                   help="the drift to undo instead of the analysed one, in ms (positive = audio late: the sound "
                        "is moved M ms earlier; -120 moves it 120 ms later)")
    e.add_argument("--accept-unreliable", action="store_true",
                   help="export the analysed drift even when the analysis calls it unreliable (by default such "
                        "an export is refused and nothing is written)")
    e.add_argument("--subtitles", choices=["sound", "picture"], default="sound",
                   help="subtitle tracks move with the sound (default: they were timed to the speech) or stay "
                        "on the picture's timing")
    e.add_argument("--force", action="store_true", help="replace OUT if it exists (never the source)")
    _analysis_args(e)

    t = sub.add_parser("train", help="train C3 and WLOS on a folder of in-sync clips",
                       description="Every clip under FOLDER is taken as in sync. Its features are cached "
                                   "(see --cache), then C3 is pre-trained and WLOS fine-tuned from it.")
    t.add_argument("folder", metavar="FOLDER")
    t.add_argument("--out", required=True, metavar="DIR", help="model folder to write (c3.pt, wlos.pt, logs)")
    t.add_argument("--init", metavar="default|DIR",
                   help="start from the shipped model (default) or a model folder, instead of from scratch")
    t.add_argument("--stage", default="both", choices=["both", "c3", "wlos", "wlos-scratch"],
                   help="both: C3 then WLOS from it (default); wlos-scratch: WLOS without pre-training")
    t.add_argument("--protocol", default="clip", choices=["clip", "pairs"],
                   help="validation: held-out clips (default) or the paper's random 20%% of pairs")
    t.add_argument("--split-file", metavar="TSV", help="clip/split table naming the train and val clips")
    t.add_argument("--epochs", type=float, help="WLOS epochs (default 10)")
    t.add_argument("--epochs-c3", type=float, help="C3 epochs (default 6)")
    t.add_argument("--paper-sgd", action="store_true",
                   help="the paper's optimiser (SGD lr 1e-4, momentum 0.9, decay 1e-5) instead of Adam")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any training setting, e.g. lr=3e-4 clips_per_step=16 (both stages)")
    t.add_argument("--augment", type=int, default=0, metavar="N",
                   help="also train on N augmented copies of every clip (other cameras, voices, rooms; cached), "
                        "and keep the weights that validate best on augmented validation clips")
    t.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    t.add_argument("--max-minutes", type=float, default=0, help="stop each stage after this long (resumable)")
    t.add_argument("--cache", metavar="DIR", help="feature cache (default ~/.cache/wlos-sync/features)")
    t.add_argument("--feature-ram-mb", type=_positive_float, metavar="MB",
                   help="clip features kept in memory per process; the rest is read from the cache as needed, "
                        "so a cache larger than memory trains (default: WLOS_FEATURE_RAM_MB, else a quarter "
                        "of physical memory); results do not depend on it")
    t.add_argument("--workers", type=int, help="feature extraction processes (default: one per core)")
    t.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA if available")

    c = sub.add_parser("calibrate", help="fit a model folder's confidence on held-out in-sync clips",
                       description="Every clip under FOLDER is taken as in sync and as unseen by the model. "
                                   "Shifted copies, copies shifted beyond the range and mismatched sound "
                                   "give cases; half the clips fit each method's calibration, the other half "
                                   "check it. Writes DIR/calibration.json.")
    c.add_argument("folder", metavar="FOLDER")
    c.add_argument("--model", metavar="DIR", required=True, help="model folder (wlos.pt, c3.pt) to calibrate")
    c.add_argument("--split-file", metavar="TSV", help="use only the clips this table marks val")
    c.add_argument("--other", action="store_true",
                   help="add one augmented 'other speaker' copy of every clip (trainer.augment)")
    c.add_argument("--methods", default="", metavar="M[,M]",
                   help="refit only these methods, keeping the others' fits (default: all)")
    c.add_argument("--cases", metavar="FILE",
                   help="keep the estimated cases in FILE; when FILE exists, only refit from it")
    c.add_argument("--json", action="store_true", help="print the check half's reliability as JSON")
    c.add_argument("--cache", metavar="DIR", help="feature cache (default ~/.cache/wlos-sync/features)")
    c.add_argument("--workers", type=int, help="feature extraction processes (default: one per core)")
    c.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA if available")

    v = sub.add_parser("eval", help="MAE per block, clip accuracy and speed of each method on in-sync clips")
    v.add_argument("folder", metavar="FOLDER")
    v.add_argument("--model", metavar="DIR", help="folder with wlos.pt / c3.pt (default: shipped weights)")
    v.add_argument("--split-file", metavar="TSV", help="evaluate only the clips this table marks val")
    v.add_argument("--protocol", default="clip", choices=["clip", "pairs"],
                   help="clip: all pairs of the (val) clips; pairs: the paper's held-out 20%% of pairs")
    v.add_argument("--methods", default="qmi,c3,wlos", help="comma-separated (default qmi,c3,wlos)")
    v.add_argument("--json", action="store_true", help="print the results as JSON")
    v.add_argument("--cache", metavar="DIR", help="feature cache (default ~/.cache/wlos-sync/features)")
    v.add_argument("--workers", type=int, help="feature extraction processes (default: one per core)")
    v.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA if available")
    return parser


def _check_device(device: str | None) -> None:
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise WlosError(f"--device cuda: no CUDA device here (torch {torch.__version__}); use --device cpu")


def _config(args):
    from .core.analysis import AnalysisConfig
    from .core.mouth import FaceConfig
    from .core.features import FeatureConfig
    curves = tuple(c for c in getattr(args, "curves", "").split(",") if c)
    for c in curves:
        if c not in ("qmi", "c3"):
            raise WlosError(f"--curves takes qmi and/or c3, not {c!r}")
    _check_device(args.device)
    return AnalysisConfig(method=args.method, curves=curves, model_dir=args.model, device=args.device,
                          face=FaceConfig(tracker=args.tracker, landmark_every=args.landmark_every),
                          features=FeatureConfig(stride=args.stride),
                          max_offset_ms=args.max_offset_ms,
                          track_models=("constant",) if args.constant else AnalysisConfig.track_models,
                          face_id=args.face, face_at=args.face_at, audio_stream=args.audio_track, full=args.full)


class _StderrProgress:
    """Progress lines on stderr, at most one a second, once a job has run for five seconds."""

    def __init__(self, label: str):
        self.label, self.t0, self.last = label, time.monotonic(), 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.t0 > 5.0 and now - self.last >= 1.0:
            self.last = now
            print(f"{self.label}: {fraction * 100:3.0f}% done; {message}", file=sys.stderr, flush=True)


def _fail(path: str, exc: BaseException) -> str:
    from .core.batch import error_reason  # the same line a batch records
    return error_reason(path, exc)


def _batch(args, cfg) -> int:
    """Folders, --jobs or --out: clips in worker processes (core.batch), records as they finish."""
    from tqdm import tqdm

    from .core import batch
    paths = batch.expand(args.clips)
    if not paths:
        raise WlosError(f"no video files in {', '.join(args.clips)}")
    done = batch.read_done(args.out, args.retry_failed) if args.out else {}
    skipped = sum(p in done for p in paths)  # the file may also hold clips not asked for now
    bar = tqdm(total=len(paths), initial=min(skipped, len(paths)), unit="clip", file=sys.stderr,
               dynamic_ncols=True, disable=None if args.out else True, smoothing=0.05)

    def on_record(rec: dict) -> None:
        bar.update(1)
        if "error" in rec:
            bar.write(f"error: {rec['error']}", file=sys.stderr)
        if args.out:
            return
        if args.json:
            print(json.dumps(rec), flush=True)
        elif "error" not in rec:
            print(f"{rec['path']}: {rec['summary']}", flush=True)

    try:
        report = _run_batch(args, cfg, paths, on_record)
    except KeyboardInterrupt:
        if not args.out:
            raise Interrupted("interrupted; the clips printed above are done") from None
        saved = sum(p in batch.read_done(args.out) for p in paths)
        raise Interrupted(f"interrupted: {saved} of {len(paths)} clips are saved in {args.out}; run the same "
                          f"command again to go on from there") from None
    finally:
        bar.close()
    if args.out:
        now = report.total - report.skipped
        rate = f", {now / report.seconds:.2f} clips/s" if now and report.seconds else ""
        print(f"{report.total} clips: {now} analysed in {report.seconds:.0f} s{rate}, "
              f"{report.skipped} already in {args.out}\n")
        print(report.table())
        if args.parquet:
            print(f"\n{batch.write_parquet(args.out, args.parquet)} records written to {args.parquet}")
    return 1 if report.counts.get("failed") else 0


def _run_batch(args, cfg, paths: list[str], on_record):
    from .core import batch
    if args.cluster or os.environ.get("DASK_SCHEDULER_ADDRESS"):
        from .core.cluster import run_cluster_batch
        return run_cluster_batch(paths, cfg, args.out, args.cluster, summary_only=args.summary_only,
                                 block_curves=args.block_curves, retry_failed=args.retry_failed, on_record=on_record)
    return batch.run_batch(paths, cfg, args.out, jobs=args.jobs or 1, summary_only=args.summary_only,
                           block_curves=args.block_curves, retry_failed=args.retry_failed,
                           timeout_s=args.timeout_s or 0.0, on_record=on_record)


def cmd_analyze(args) -> int:
    from dataclasses import replace

    from .core import overlap
    from .core import outputs
    if args.parquet and not args.out:
        raise WlosError("--parquet is written from the batch's JSONL: give --out FILE.jsonl too")
    if args.out:  # before anything is read or analysed: nothing is written into a file the tool did not make
        outputs.check_results_file(args.out, args.clips)
    if args.parquet:
        outputs.check_replaceable(args.parquet, "a Parquet file", outputs.is_parquet, args.clips)
    cfg = replace(_config(args), keep_audio=False, keep_face_frames=False)  # only the numbers are printed
    if args.cluster and (args.jobs or args.timeout_s):
        raise WlosError("--cluster runs as many clips at once as the cluster has worker threads: "
                        "no --jobs or --timeout-s with it")
    if args.jobs or args.out or args.cluster or any(os.path.isdir(p) for p in args.clips):
        return _batch(args, cfg)
    if args.retry_failed or args.timeout_s:
        raise WlosError("--retry-failed and --timeout-s are for batches (--out, --jobs, --cluster or a folder)")
    failed = 0
    for path, res in overlap.analyze_each(args.clips, cfg, lambda p: _StderrProgress(os.path.basename(p))):
        if isinstance(res, Exception):  # one bad clip must not stop the others
            exc = res
            if os.environ.get("WLOS_DEBUG"):
                raise exc
            failed += 1
            msg = _fail(path, exc)
            if args.json:
                print(json.dumps({"path": path, "error": msg}), flush=True)
            print(f"error: {msg}", file=sys.stderr, flush=True)
            continue
        if args.json:
            from .core.batch import record_of
            print(json.dumps(record_of(res, args.summary_only, args.block_curves)), flush=True)
        else:
            print(f"{path}: {res.summary()}", flush=True)
        for w in res.warnings:
            print(f"warning: {path}: {w}", file=sys.stderr)
    return 1 if failed else 0


def cmd_export(args) -> int:
    from .core.export import check_destination
    from .errors import MediaError
    path = args.clip
    try:
        check_destination(path, args.output, args.force)  # before an analysis, not after it
    except MediaError as exc:  # a source that cannot be read fails like a clip (1); the rest is usage (2)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return _export(args)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; nothing was written ({args.output} was not made)") from None


def _export(args) -> int:
    from .core import media, verdict
    from .core.calibration import RELIABLE
    from .core.export import export_synced
    path = args.clip
    try:
        audio = None
        if args.offset_ms is not None:
            drift = args.offset_ms / 1000.0
        elif args.offset_frames is not None:
            info = media.probe(path)
            if info.video is None or not info.video.fps:
                raise WlosError(f"{path}: frame rate unknown; give --offset-ms instead")
            drift = args.offset_frames / info.video.fps
        else:
            from .core import overlap
            [(_, res)] = overlap.analyze_each([path], _config(args), lambda p: _StderrProgress(os.path.basename(p)))
            if isinstance(res, Exception):
                raise res
            if not math.isfinite(res.offset_ms):
                raise WlosError(f"{path}: no drift estimate to apply; give --offset-ms")
            print(f"{path}: {res.summary()}", file=sys.stderr)
            if not res.reliable and not args.accept_unreliable:
                print(f"error: {path}: not exported: the drift found is unreliable (confidence "
                      f"{res.confidence:.2f}, below {RELIABLE:.2f}) and may be wrong; nothing was written. Export it anyway "
                      f"with --accept-unreliable, or give the drift with --offset-ms", file=sys.stderr)
                return 1
            # The fitted track (a constant one is the offset); --offset-ms forces one shift.
            drift = res.track if res.track_model != "constant" else res.offset_ms / 1000.0
            audio = res.audio
        out = export_synced(path, args.output, drift, force=args.force, audio=audio,
                            audio_stream=args.audio_track, subtitles=args.subtitles)
    except Exception as exc:
        if os.environ.get("WLOS_DEBUG"):
            raise
        print(f"error: {_fail(path, exc)}", file=sys.stderr)
        return 1
    for why in out["dropped"]:
        print(f"warning: {args.output}: not carried: {why}", file=sys.stderr)
    if isinstance(drift, float):
        print(f"wrote {out['path']} ({verdict.moved(drift)})")
    else:
        from .core.result import describe_track
        print(f"wrote {out['path']} ({out['track_model']} drift undone: {describe_track(drift)})")
    return 0


class _DatasetBar:
    """A one-line progress bar on stderr for feature extraction."""

    def __init__(self):
        self.last = 0.0

    def __call__(self, done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if done == total or now - self.last > 0.5:
            self.last = now
            width = 30
            fill = int(width * done / max(1, total))
            end = "\n" if done == total else ""
            print(f"\rfeatures [{'#' * fill}{'.' * (width - fill)}] {done}/{total} {message[:40]:40s}",
                  end=end, file=sys.stderr, flush=True)


def cmd_train(args) -> int:
    from trainer.recipe import TrainJob, run
    from trainer.train import TrainConfig

    from .core import outputs
    outputs.check_model_folder(args.out)
    maker = TrainConfig.paper_sgd if args.paper_sgd else TrainConfig.fine_tune if args.init else TrainConfig
    c3, wlos = maker(kind="c3", epochs=6.0), maker(kind="wlos", epochs=10.0)
    try:
        pairs = dict(kv.split("=", 1) for kv in args.set)
    except ValueError:
        raise WlosError("--set takes KEY=VALUE") from None
    for cfg in (c3, wlos):
        try:
            cfg.update(pairs)
        except ValueError as exc:
            raise WlosError(str(exc)) from None
        cfg.protocol, cfg.device, cfg.max_minutes = args.protocol, args.device, args.max_minutes
    if args.epochs is not None:
        wlos.epochs = args.epochs
    if args.epochs_c3 is not None:
        c3.epochs = args.epochs_c3
    job = TrainJob(args.folder, args.out, stage=args.stage, init=args.init, split_file=args.split_file,
                   cache_dir=args.cache, workers=args.workers, resume=args.resume, c3=c3, wlos=wlos,
                   augment=args.augment, feature_ram_mb=args.feature_ram_mb)
    bar = _DatasetBar()

    def on_event(kind: str, info: dict) -> None:
        if kind == "dataset":
            bar(info["done"], info["total"], info["message"])
        elif kind == "log":
            print(info["message"], file=sys.stderr, flush=True)
        elif kind == "stage":
            how = "resuming" if info["resume"] else "training"
            print(f"{how} {info['kind'].upper()}" + (f" from {info['init']}" if info["init"] else " from scratch"),
                  file=sys.stderr, flush=True)

    try:
        summary = run(job, on_event)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: what was trained is kept in {args.out}; the same command with --resume "
                          f"goes on from there") from None
    except (FileExistsError, FileNotFoundError, PermissionError, ValueError, WlosError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    unfinished = [k for k, st in summary["stages"].items() if not st["finished"]]
    for kind, st in summary["stages"].items():
        f = st["final"]
        if "mae" in f:
            print(f"{kind}: validation MAE {f['mae']:.3f} frames per block over {f.get('pairs', 0)} pairs"
                  + ("" if st["finished"] else " (unfinished: run again with --resume)"))
    return 1 if unfinished else 0


def cmd_eval(args) -> int:
    from trainer.report import evaluate_folder, format_table
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in ("qmi", "c3", "wlos"):
            raise WlosError(f"--methods takes qmi, c3 and wlos, not {m!r}")
    try:
        res = evaluate_folder(args.folder, model_dir=args.model, split_file=args.split_file,
                              protocol=args.protocol, methods=methods, cache_dir=args.cache,
                              workers=args.workers, device=args.device, progress=_DatasetBar())
    except (FileNotFoundError, PermissionError, ValueError, WlosError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=1) if args.json else format_table(res))
    return 0


def cmd_calibrate(args) -> int:
    from trainer import dataset
    from trainer.calibrate import calibrate_model

    from .core import outputs
    if args.cases:
        outputs.check_replaceable(args.cases, "a cases file of wlos-app (JSON)", outputs.is_json)
    bar = _DatasetBar()
    try:
        clips = dataset.build(args.folder, cache_dir=args.cache, workers=args.workers, progress=bar)
        if args.split_file:
            _, clips = dataset.split_clips(clips, args.split_file)
        sets = {"held-out": clips}
        if args.other:
            sets["other"] = dataset.build(sorted({c.path for c in clips.clips}), cache_dir=args.cache,
                                          workers=args.workers, progress=bar, augmented=1, every_part=True,
                                          include_clean=False)
        if sum(len(s.clips) for s in sets.values()) < 2:
            raise WlosError(f"{args.folder}: at least two usable clips are needed")
        only = tuple(m for m in args.methods.split(",") if m)
        res = calibrate_model(args.model, sets, args.device, progress=lambda d, t: bar(d, t, "calibrating"),
                              only=only, cases_file=args.cases)
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        for m, r in res.items():
            print(f"{m}: {r['cases']} check cases, ECE {r['ece']:.3f}, reliable (conf >= 0.8) "
                  f"{r['reliable_share']}, right when reliable {r['right_when_reliable']}")
    return 0


COMMANDS = ("analyze", "export", "train", "calibrate", "eval")
ALIASES = {"analyse": "analyze"}  # the README's prose spells it the British way


def _window(argv: list[str]) -> int:
    """`wlos-app [CLIP...]`: the window. A first word that is neither a command nor a file is a
    mistyped command, not a clip to open; without a display the window cannot open at all."""
    import difflib

    from .display import display_problem
    args = gui_parser().parse_args(argv)
    first = args.clips[0] if args.clips else None
    if first is not None and not os.path.exists(first):
        near = difflib.get_close_matches(first, [*COMMANDS, *ALIASES], n=1, cutoff=0.6)
        if near:
            raise WlosError(f"unknown command {first!r} (did you mean {ALIASES.get(near[0], near[0])}?)")
        if os.sep not in first and "." not in first:
            raise WlosError(f"unknown command {first!r}; the commands are {', '.join(COMMANDS)} "
                            f"(wlos-app --help), or give a video file to open")
        raise WlosError(f"{first}: no such file (nor a command: {', '.join(COMMANDS)})")
    problem = display_problem()
    if problem:
        raise WlosError(f"cannot open the window: {problem}; on the command line use "
                        f"`wlos-app analyze CLIP` or `wlos-app export CLIP -o OUT`")
    if args.settings:
        from .core import outputs
        outputs.check_replaceable(args.settings, "a settings (INI) file", outputs.is_ini, args.clips)
    from .gui.app import run
    return run(args.clips, args.settings, args.smoke_test)


def gui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wlos-app", description="Open the WLOS Sync window, with CLIPs queued for "
                                "analysis. Commands: wlos-app {analyze,export,train,eval} --help.")
    p.add_argument("clips", nargs="*", metavar="CLIP")
    p.add_argument("--settings", metavar="INI", help="settings file (default: the user's WLOS Sync settings)")
    p.add_argument("--smoke-test", action="store_true",
                   help="analyse the CLIPs in the window, print the results and quit (exit 1 if any failed)")
    return p


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the program itself (not a caller in the same process)
        code = main(sys.argv[1:])
        if _command_of(sys.argv[1:]) in ("analyze", "export"):
            _end_now(code)
        return code
    argv = [ALIASES.get(a, a) if a == _command_of(argv) else a for a in argv]
    first = _command_of(argv)
    if first not in COMMANDS and not {"-h", "--help", "--version"} & set(argv):
        try:
            return _window(argv)
        except WlosError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (kill, a closing terminal, a batch system) takes the same way out as Ctrl-C, so
    # temporary files are removed and the exit status says "interrupted".
    import signal

    def _terminate(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return {"analyze": cmd_analyze, "export": cmd_export, "train": cmd_train, "calibrate": cmd_calibrate,
                "eval": cmd_eval}[args.command](args)
    except KeyboardInterrupt as exc:
        print(str(exc) if isinstance(exc, Interrupted) else "interrupted", file=sys.stderr)
        return 130
    except WlosError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _end_now(code: int) -> None:
    """Ends the process once `analyze` or `export` has printed its answer: Python's own teardown of
    torch's modules takes 0.5 s here, a sixth of a 3 s clip's command, and such a command has closed
    its files by then. The exit functions still run; not where a thread other than the flow's idle
    pool (core.features) is alive (a batch's pool, the window): Python's teardown waits for those."""
    import threading
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(not t.name.startswith("flow_") for t in others):
        return
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said on it
            pass
    os._exit(code)
