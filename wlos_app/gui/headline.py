"""The headline above the video: a clip's state, or its drift in words, in one HTML string."""
from __future__ import annotations

import math
import os

from ..core.result import describe_track
from .plots import method_name


def headline_html(st) -> str:
    """st: the window's ClipState, or None when no clip is open."""
    if st is None:
        return "<span style='font-size:18pt; color:#889'>Drop a clip to find its drift</span>"
    name = os.path.basename(st.path)
    if st.status == "analysing":
        return (f"<span style='font-size:16pt'>Analysing {name} \u2026 {st.progress * 100:.0f}%</span><br>"
                f"<span style='color:#aab'>{st.message}</span>")
    if st.status == "failed":
        return (f"<span style='font-size:16pt; color:#ff6a6a'>Cannot analyse {name}</span><br>"
                f"<span style='color:#aab'>{st.error}</span>")
    if st.status != "done":
        return f"<span style='font-size:16pt'>{name}: {st.status}</span>"
    r = st.result
    if math.isfinite(r.offset_ms):
        big = r.verdict() if r.track_model == "constant" else describe_track(r.track)
        big = big[0].upper() + big[1:]
        how = (f"{r.offset_frames:+.1f} frames at {r.fps:g} fps" if r.track_model == "constant" else
               f"{r.track_model} track, median {r.offset_ms:+.0f} ms")
        small = (f"{how} \u00b7 confidence {r.confidence:.2f} \u00b7 {method_name(r.method)} "
                 f"\u00b7 {r.n_used}/{len(r.starts)} blocks \u00b7 {name}")
        who = r.face_words()  # several faces: whose lips ("face 1, the person on the right")
        if who:
            big += f" \u00b7 {who.split(', ', 1)[-1]}"
        if not r.reliable:
            # Say so where the number is read: a wrong answer must not look like a right one.
            big += " \u2014 unreliable"
    else:
        big, small = "No estimate", name
    warn = "".join(f"<br><span style='color:#fa0'>\u26a0 {w}</span>" for w in r.warnings)
    colour = "#9a9aa8" if not r.reliable else "#7ddc7d" if abs(r.offset_ms) < 20 else "#ffc828"
    return (f"<span style='font-size:20pt; color:{colour}'><b>{big}</b></span><br>"
            f"<span style='color:#aab'>{small}</span>{warn}")
