"""The paper's Table 1 and clip-level accuracy, measured on cached features.

- MAE per block: for every validation pair (block t, drift d), each method's drift estimate for the
  block with audio window t - d, against d. QMI and C3 slide 19 windows (shift s sees window
  t - d + s) and take the best; WLOS regresses once.
- Clip accuracy: every held-out clip's audio is moved by s frames (s = -6, -3, 0, +3, +6) and the
  whole engine (`wlos_app.core.methods.estimate`: per-block evidence, then the clip offset) is
  run on it; exact = the rounded offset equals s, within 1 = |offset - s| <= 1 frame.
- ms per block: the wall time of each method's per-block estimates over the same clips.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import numpy as np

from wlos_app.core import estimators
from wlos_app.core.methods import estimate
from wlos_app.core.grid import MAX_SHIFT, SHIFTS
from wlos_app.core.features import MFCC_PER_FRAME, ClipFeatures

from .dataset import ClipSet, pair_val_mask

CLIP_SHIFTS = (-6, -3, 0, 3, 6)


def qmi_block_mae(clips: ClipSet, protocol: str, seed: int = 0) -> dict:
    """The paper's QMI baseline per block: 10 frames of flow against 19 shifted audio windows."""
    errs = []
    wide = np.arange(-2 * MAX_SHIFT, 2 * MAX_SHIFT + 1)
    for c in clips.clips:
        visual, audio = estimators.qmi_signals(c.feats)
        t_all, d_all = c.pairs()
        if protocol == "pairs":
            m = pair_val_mask(c.name, t_all, d_all, seed)
            t_all, d_all = t_all[m], d_all[m]
        for t in np.unique(t_all):
            # QMI of the block against every window t + e, e = -18..18, computed once
            q = estimators.qmi_block_scores(visual, audio, int(t), wide)
            for d in d_all[t_all == t]:
                # the file's window t + s holds original window t - d + s
                curve = q[(-d + SHIFTS) + 2 * MAX_SHIFT]
                if np.isfinite(curve).any():
                    errs.append(abs(SHIFTS[np.nanargmax(curve)] - d))
    e = np.array(errs, float)
    return {"mae": float(e.mean()) if len(e) else float("nan"), "pairs": int(len(e)),
            "within1": float((e <= 1).mean()) if len(e) else float("nan")}


def shift_audio(f: ClipFeatures, s: int) -> ClipFeatures:
    """The clip as it would read with its audio s grid frames late (s < 0: early). The picture is
    unchanged; the audio features move, padded at the open end with the clip's edge rows
    (silence in practice) and -100 dB power."""
    if s == 0:
        return f
    k = MFCC_PER_FRAME * s
    m = f.mfcc
    if s > 0:
        mf = np.concatenate([np.repeat(m[:1], k, 0), m[:-k]]) if k < len(m) else np.repeat(m[:1], len(m), 0)
        p = np.concatenate([np.full(s, -100.0, np.float32), f.power_db[:-s]])
    else:
        mf = np.concatenate([m[-k:], np.repeat(m[-1:], -k, 0)]) if -k < len(m) else np.repeat(m[-1:], len(m), 0)
        p = np.concatenate([f.power_db[-s:], np.full(-s, -100.0, np.float32)])
    return replace(f, mfcc=mf.astype(np.float32), power_db=p[:len(f.power_db)].astype(np.float32))


def cut(f: ClipFeatures, start: int, n: int) -> ClipFeatures:
    """Frames start..start+n-1 of a clip and their sound, as a short clip cut from a longer
    recording would read (its MFCCs keep the recording's scaling)."""
    return replace(f, flow=f.flow[start:start + n], flow_valid=f.flow_valid[start:start + n],
                   mfcc=f.mfcc[MFCC_PER_FRAME * start:MFCC_PER_FRAME * (start + n)],
                   power_db=f.power_db[start:start + n])


def join(parts: list[ClipFeatures]) -> ClipFeatures:
    """Clips' features end to end, as one longer recording of the same speaker would give: raw
    flows brought to one scale (the parts' median), MFCCs as each part scaled them, audio power
    made relative to one speech level."""
    scale = float(np.median([f.flow_scale for f in parts]))
    level = float(np.median([f.speech_level_db for f in parts]))
    n = [min(f.n_frames, len(f.power_db), len(f.mfcc) // MFCC_PER_FRAME) for f in parts]
    return replace(parts[0],
                   flow=np.concatenate([f.flow[:k] * np.float32(scale / f.flow_scale) for f, k in zip(parts, n)]),
                   flow_valid=np.concatenate([f.flow_valid[:k] for f, k in zip(parts, n)]),
                   flow_scale=scale,
                   mfcc=np.concatenate([f.mfcc[:MFCC_PER_FRAME * k] for f, k in zip(parts, n)]),
                   power_db=np.concatenate([f.power_db[:k] + (level - f.speech_level_db)
                                            for f, k in zip(parts, n)]).astype(np.float32),
                   speech_level_db=level)


def drift_audio(f: ClipFeatures, drift: Callable[[np.ndarray], np.ndarray]) -> ClipFeatures:
    """The clip as it would read with its audio `drift(t)` grid frames late at grid time t (s):
    the sound of picture time t is heard at t + drift(t) / 25, as the analysis defines drift. MFCC
    rows are read between their frames by linear interpolation; the open ends are silence."""
    m = f.mfcc

    def picture_time(tau: np.ndarray) -> np.ndarray:
        t = tau.copy()
        for _ in range(30):  # t = tau - d(t) / 25: a contraction while the drift changes slowly
            t = tau - np.asarray(drift(t), float) / 25.0
        return t
    src = picture_time(np.arange(len(m)) / (25.0 * MFCC_PER_FRAME)) * 25.0 * MFCC_PER_FRAME
    inside = (src >= 0) & (src <= len(m) - 1)
    lo = np.clip(np.floor(src).astype(int), 0, len(m) - 1)
    hi = np.minimum(lo + 1, len(m) - 1)
    w = np.clip(src - lo, 0, 1)[:, None]
    mf = np.where(inside[:, None], m[lo] * (1 - w) + m[hi] * w, m[0])
    srcf = np.rint(picture_time(np.arange(len(f.power_db)) / 25.0) * 25.0).astype(int)
    ok = (srcf >= 0) & (srcf < len(f.power_db))
    p = np.where(ok, f.power_db[np.clip(srcf, 0, len(f.power_db) - 1)], -100.0)
    return replace(f, mfcc=mf.astype(np.float32), power_db=p.astype(np.float32))


def estimate_clip(f: ClipFeatures, method: str, nets: dict, **kw):
    """`estimate` over every block of a clip's features; None when no block is usable."""
    starts = f.block_starts()
    status = [f.block_status(int(t)) for t in starts]
    if "ok" not in status:
        return None
    return estimate(f, starts, status, method, nets, **kw)


def clip_accuracy(clips: ClipSet, methods: dict, shifts=CLIP_SHIFTS, seed: int = 0) -> dict:
    """methods: name -> (method, nets) as `estimate` takes them. Returns per method: exact and
    within-1 accuracy per shift and overall."""
    res = {name: {"hits": {s: [0, 0, 0] for s in shifts}} for name in methods}
    for c in clips.clips:
        for s in shifts:
            f = shift_audio(c.feats, s)
            for name, (method, nets) in methods.items():
                est = estimate_clip(f, method, nets, seed=seed)
                if est is None:
                    break
                h = res[name]["hits"][s]
                h[2] += 1
                if np.isfinite(est.offset_grid):
                    h[0] += int(round(est.offset_grid) == s)
                    h[1] += int(abs(est.offset_grid - s) <= 1.0)
    out = {}
    for name, r in res.items():
        n = sum(h[2] for h in r["hits"].values())
        out[name] = {
            "exact": sum(h[0] for h in r["hits"].values()) / max(1, n),
            "within1": sum(h[1] for h in r["hits"].values()) / max(1, n),
            "by_shift": {s: {"exact": h[0] / max(1, h[2]), "within1": h[1] / max(1, h[2]), "clips": h[2]}
                         for s, h in r["hits"].items()},
            "clips": n // max(1, len(shifts)),
        }
    return out


def block_ms(clips: ClipSet, methods: dict, repeats: int = 1) -> dict:
    """Wall time of each method's per-block estimates (all blocks, stride 1), in one run."""
    out = {}
    for name, (method, nets) in methods.items():
        total, blocks = 0.0, 0
        for _ in range(repeats):
            for c in clips.clips:
                f = c.feats
                starts = f.block_starts()
                status = [f.block_status(int(t)) for t in starts]
                ok = np.array([s == "ok" for s in status])
                used = starts[ok]
                t0 = time.perf_counter()
                if method == "wlos":
                    estimators.wlos_drifts(nets["wlos"], f, used)
                elif method == "c3":
                    estimators.c3_curves(nets["c3"], f, used)
                else:
                    estimators.qmi_block_curves(f, used)
                total += time.perf_counter() - t0
                blocks += len(used)
        out[name] = 1000 * total / max(1, blocks)
    return out


def shift_scores(clips: ClipSet, methods: dict, shifts=CLIP_SHIFTS, seed: int = 0, calibrations=None,
                 weights: dict | None = None) -> dict:
    """Every clip with its audio moved by each shift, through `estimate` for each method
    (name -> (method, nets); `weights`: c3-track's parts, default AnalysisConfig's). Per method:
    - relative: |offset(s) - offset(0) - s| <= 1, fair where the source itself may be off;
    - absolute: |offset(s) - s| <= 1, for sources known to be in sync;
    - (clip, shift, confidence, relative right, absolute right, quality) of every case, for
      reliability checks (quality: what a calibration reads, to refit without re-running);
    - ms: estimator wall time per block (all usable blocks, all shifts)."""
    rows = {name: [] for name in methods}
    timing = {name: [0.0, 0] for name in methods}
    for c in clips.clips:
        for name, (method, nets) in methods.items():
            got = {}
            for s in shifts:
                t0 = time.perf_counter()
                est = estimate_clip(shift_audio(c.feats, s), method, nets, seed=seed, calibrations=calibrations,
                                    weights=weights)
                if est is None:
                    continue
                timing[name][0] += time.perf_counter() - t0
                timing[name][1] += int(np.isfinite(est.drift).sum())
                got[s] = (est.offset_grid, est.confidence, est.quality)
            if 0 not in got:
                continue
            o0 = got[0][0]
            for s, (o, conf, quality) in got.items():
                rel = bool(np.isfinite(o) and np.isfinite(o0) and abs(o - o0 - s) <= 1.0)
                ab = bool(np.isfinite(o) and abs(o - s) <= 1.0)
                rows[name].append((c.name, s, conf, rel, ab, quality))
    out = {}
    for name, r in rows.items():
        rel = np.array([x[3] for x in r], bool)
        ab = np.array([x[4] for x in r], bool)
        out[name] = {"cases": len(r), "clips": len({x[0] for x in r}),
                     "relative": float(rel.mean()) if len(r) else float("nan"),
                     "absolute": float(ab.mean()) if len(r) else float("nan"),
                     "ms_per_block": 1000 * timing[name][0] / max(1, timing[name][1]),
                     "cases_detail": r}
    return out
