"""The paper's Table 1 on GRID s1, on both protocols, plus clip accuracy and speed. Prints a table.

    python benchmarks/table1.py S1_FOLDER --split-file ../shared/data/grid_s1_split.tsv \
        --clip MODELS/clip --clip-scratch MODELS/clip-scratch \
        --pairs MODELS/pairs --pairs-scratch MODELS/pairs-scratch [--cache DIR] [--json OUT]

--clip / --pairs: folders with c3.pt and a fine-tuned wlos.pt trained with `--protocol clip`
(on the split file's train clips) and `--protocol pairs` (on 80% of all pairs); --*-scratch:
wlos.pt trained from scratch the same way (`--stage wlos-scratch`). The clip columns use the
held-out clips only; the pairs column the held-out 20% of pairs. Speed is measured in the clip run,
on this machine's CPU unless --device cuda.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainer import dataset  # noqa: E402
from trainer.report import evaluate_clips  # noqa: E402
from wlos_app.core.models import load  # noqa: E402

ROWS = [("qmi", "QMI (Liu & Sato)", 6.305), ("c3", "C3 (sliding window)", 1.352),
        ("wlos-scratch", "WLOS (scratch)", 0.937), ("wlos", "WLOS (fine-tuned from C3)", 0.907)]


def nets_from(ft: str, scratch: str | None, device: str | None) -> dict:
    nets = {"c3": load("c3", ft, device), "wlos": load("wlos", ft, device)}
    if scratch:
        nets["wlos-scratch"] = load("wlos", scratch, device)
    return nets


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--split-file", required=True)
    ap.add_argument("--clip", required=True)
    ap.add_argument("--clip-scratch")
    ap.add_argument("--pairs")
    ap.add_argument("--pairs-scratch")
    ap.add_argument("--cache")
    ap.add_argument("--device")
    ap.add_argument("--json", help="also write the full results here")
    a = ap.parse_args()

    clips = dataset.build(a.folder, cache_dir=a.cache)
    _, val = dataset.split_clips(clips, a.split_file)
    names = [r[0] for r in ROWS if r[0] != "wlos-scratch" or a.clip_scratch]
    print(f"clip protocol: {len(val.clips)} held-out clips ...", file=sys.stderr, flush=True)
    res_clip = evaluate_clips(val, nets_from(a.clip, a.clip_scratch, a.device), "clip", names)
    res_pairs = {}
    if a.pairs:
        names_p = [r[0] for r in ROWS if r[0] != "wlos-scratch" or a.pairs_scratch]
        print(f"paper protocol: held-out pairs of {len(clips.clips)} clips ...", file=sys.stderr, flush=True)
        res_pairs = evaluate_clips(clips, nets_from(a.pairs, a.pairs_scratch, a.device), "pairs", names_p,
                                   clip_level=False)

    def f(x, nd=3):
        return "—" if x is None else f"{x:.{nd}f}"

    print(f"GRID s1, {len(clips.clips)} clips; clip-disjoint split: {len(val.clips)} val clips; "
          f"machine: {platform.processor() or platform.machine()}, device {a.device or 'default'}")
    print()
    print("| method | paper MAE (S1) | MAE, paper protocol | MAE, clip-disjoint | clip exact | clip within ±1 "
          "| ms per block |")
    print("|---|---|---|---|---|---|---|")
    for key, label, paper in ROWS:
        if key not in res_clip:
            continue
        rc, rp = res_clip[key], res_pairs.get(key, {})
        print(f"| {label} | {paper:.3f} | {f(rp.get('mae'))} | {f(rc['mae'])} | {f(rc['clip']['exact'])} | "
              f"{f(rc['clip']['within1'])} | {f(rc['ms_per_block'], 2)} |")
    print()
    print("MAE: mean |estimated - true drift| in frames over validation pairs (blocks x 19 drifts).")
    print("clip exact / within ±1: held-out clips with audio moved by -6, -3, 0, +3, +6 frames, "
          "the engine's clip offset rounded to the frame / within one frame.")
    if a.json:
        Path(a.json).write_text(json.dumps({"clip": res_clip, "pairs": res_pairs}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
