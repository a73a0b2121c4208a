"""QMI (Liu & Sato, the paper's baseline): quadratic mutual information of the mouth's opening
speed and the sound's change of power. Each block's curve over the 19 windows is read from its
10 frames; the clip's from every usable frame pooled (estimators.qmi_pooled), which is far
steadier than a mean of ten-sample estimates."""
from __future__ import annotations

import numpy as np

from .. import estimators, sync
from .base import Clip, Estimate, Method


class Qmi(Method):
    name = "qmi"

    def read(self, clip: Clip) -> Estimate:
        rows = estimators.within_reach(clip.spread(estimators.qmi_block_curves(clip.features, clip.used)), clip.reach)
        drift = sync.peaks(rows).astype(np.float32)
        if not len(clip.used):
            return Estimate(self.name, np.nan, 0.0, drift, {self.name: rows}, search_frames=clip.reach)
        draws = sync.Draws(clip.used, clip.seed)
        curve, boot = estimators.qmi_pooled(clip.features, clip.used, boot_counts=draws)
        ev = sync.Evidence(estimators.within_reach(curve, clip.reach), estimators.within_reach(boot, clip.reach))
        offset, confidence, quality = sync.from_evidence(ev, draws.n_units, clip.reach)
        return Estimate(self.name, offset, confidence, drift, {self.name: rows}, {self.name: ev.curve}, quality,
                        search_frames=clip.reach)
