"""The headline above the video: a clip's state, or its drift in words, in one HTML string."""
from __future__ import annotations

import os

from .plots import method_name


def headline_html(st) -> str:
    """st: the window's ClipState, or None when no clip is open."""
    if st is None:
        return "<span style='font-size:18pt; color:#889'>Drop a clip to find its drift</span>"
    name = os.path.basename(st.path)
    refining = ""
    if st.status == "analysing" and st.result is not None:  # a long recording's answer so far
        refining = f"<br><span style='color:#8ab4f8'>refining \u2026 {st.progress * 100:.0f}% \u00b7 {st.message}</span>"
    elif st.status == "analysing":
        return (f"<span style='font-size:16pt'>Analysing {name} \u2026 {st.progress * 100:.0f}%</span><br>"
                f"<span style='color:#aab'>{st.message}</span>")
    if st.status == "failed":
        return (f"<span style='font-size:16pt; color:#ff6a6a'>Cannot analyse {name}</span><br>"
                f"<span style='color:#aab'>{st.error}</span>")
    if st.status not in ("done", "analysing"):
        return f"<span style='font-size:16pt'>{name}: {st.status}</span>"
    r = st.result
    v = r.verdict()  # the same words as the command line's summary and a batch's table
    big = v.words[0].upper() + v.words[1:]
    who = r.face_words()  # several faces: whose lips ("face 1, the person on the right")
    if who and r.reliable:
        big += f" \u00b7 {who.split(', ', 1)[-1]}"
    elif who:
        name = f"{who} \u00b7 {name}"
    small = " \u00b7 ".join(x for x in (v.numbers, method_name(r.method), r.coverage_words(), name) if x)
    if v.advice:
        # Say what the number means and what to try where it is read: a wrong answer must not look right.
        small += f"<br>{v.advice}"
    warn = "".join(f"<br><span style='color:#fa0'>\u26a0 {w}</span>" for w in r.warnings)
    colour = {"unreliable": "#9a9aa8", "in sync": "#7ddc7d"}.get(v.kind, "#ffc828")
    return (f"<span style='font-size:20pt; color:{colour}'><b>{big}</b></span><br>"
            f"<span style='color:#aab'>{small}</span>{refining}{warn}")
