"""pyqtgraph plots of a result: drift per block over time, and the sliding-window curves.

Both use the clip's own frames on the drift axis (positive = audio late), like the headline.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QBrush, QColor

from ..core.grid import BLOCK, SHIFTS, seconds
from .video import face_colour

pg.setConfigOptions(antialias=True, background="#18181c", foreground="#c8c8d0")

_COLOURS = {"wlos": "#ffc828", "c3": "#50c8ff", "qmi": "#ff6aa0"}
_NAMES = {"c3-track": "C\u00b3 + track", "wlos": "WLOS", "c3": "C\u00b3", "qmi": "QMI"}
_BLOCK_LABEL = f"one block ({seconds(BLOCK):.1f} s)"
_POINTS_LABEL = f"{_BLOCK_LABEL}; fainter = weaker match"
WEIGHT_STEPS = 5  # how many looks a point can have, from the weakest match to the clearest
POINT_SIZE = (3.0, 7.0)  # px, weakest and clearest
POINT_ALPHA = (0.25, 0.7)  # the clearest point still lets the track stand out


def _faded(colour: str, weight: float) -> QBrush:
    c = QColor(colour)
    c.setAlphaF(POINT_ALPHA[0] + (POINT_ALPHA[1] - POINT_ALPHA[0]) * weight)
    return QBrush(c)


def _cache_axes(plot: pg.PlotWidget) -> None:
    # An axis (its ticks, labels and, with showGrid, the grid across the view) is replayed from a
    # QPicture on every repaint, which was most of the paint when the cursor moves. A pixmap cache
    # redraws it only when its range changes.
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


def method_name(method: str) -> str:
    return _NAMES.get(method, method)


class DriftPlot(pg.PlotWidget):
    """Per-block drift against time (each point as clear as its block's match), the fitted drift
    track (a line, constant or not) with its segment boundaries, and a cursor at the video position.
    Clicking anywhere in the plot asks to seek to that time (`seekRequested`)."""

    seekRequested = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(120)
        self.setLabel("bottom", "time", units="s")
        self.setLabel("left", "drift (frames)")
        # The title row exists from the start: a title that first appears with a result changes the
        # layout, and the plot would be painted twice, the axes regenerated each time.
        self.setTitle("drift per block", color="#c8c8d0", size="10pt")
        self.showGrid(x=True, y=True, alpha=0.25)
        _cache_axes(self)
        self.setMouseEnabled(x=True, y=False)
        # The track is the answer and what the eye should follow: solid, bright and on top. The
        # points are its evidence, drawn faint behind it, the weaker matches fainter and smaller.
        self.points = pg.ScatterPlotItem(size=POINT_SIZE[1], pen=None, brush=_faded(_COLOURS["wlos"], 1.0))
        self.track = pg.PlotCurveItem(pen=pg.mkPen("#ffffff", width=3), connect="finite")
        self.track.setZValue(10)
        self.addItem(self.points)
        self.addItem(self.track)
        # The legend is a row of its own under the time axis: inside the view it would hide points
        # (a clip's blocks can read anywhere in the search).
        self.legend = pg.LegendItem(colCount=2, labelTextColor="#c8c8d0")
        self.legend.addItem(self.points, _POINTS_LABEL)
        self.legend.addItem(self.track, "drift track (fitted)")
        self.legend.setSizePolicy(pg.QtWidgets.QSizePolicy.Policy.Maximum, pg.QtWidgets.QSizePolicy.Policy.Fixed)
        self.getPlotItem().layout.addItem(self.legend, 4, 1, alignment=pg.QtCore.Qt.AlignmentFlag.AlignHCenter)
        self.boundaries: list[pg.InfiniteLine] = []
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#ff5050", width=1.5))
        self.addItem(self.cursor)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.x = np.zeros(0)

    def show_result(self, times: np.ndarray, drift: np.ndarray, track: list[tuple[float, float]],
                    boundaries: list[float], model: str, confidence: float, method: str,
                    max_drift: float, faces: np.ndarray | None = None,
                    weights: np.ndarray | None = None) -> None:
        """times: block centres (s); drift: per block, NaN = skipped; track: (t, drift) points of
        the fitted track; boundaries: the times of its jumps; drifts in the clip's frames; faces:
        with several faces, the face each block's evidence came from (its colour); weights: per
        block, how much to believe it, in [0, 1] (core.block_weight; None: all alike)."""
        ok = np.isfinite(drift)
        self.x = times
        colour = _COLOURS.get(method, "#ffc828")
        colours = [face_colour(int(f)) for f in faces[ok]] if faces is not None else [colour] * int(ok.sum())
        # A few steps, not one look per block: pyqtgraph renders each distinct symbol once, and a
        # long clip has tens of thousands of blocks.
        w = weights[ok] if weights is not None else np.ones(int(ok.sum()))
        step = np.rint(w * (WEIGHT_STEPS - 1)) / (WEIGHT_STEPS - 1)
        looks = {key: _faded(*key) for key in set(zip(colours, step))}
        self.points.setBrush(_faded(colour, 1.0), update=False)  # the legend's sample
        self.points.setData(times[ok], drift[ok], brush=[looks[key] for key in zip(colours, step)],
                            size=POINT_SIZE[0] + (POINT_SIZE[1] - POINT_SIZE[0]) * step)
        self.legend.getLabel(self.points).setText(_POINTS_LABEL if weights is not None else _BLOCK_LABEL)
        for b in self.boundaries:
            self.removeItem(b)
        self.boundaries = []
        title = f"drift per block ({method_name(method)})"
        if track:
            tt, dd = np.array(track, float).T
            self.track.setData(tt, dd)
            for t in boundaries:
                line = pg.InfiniteLine(t, angle=90, movable=False,
                                       pen=pg.mkPen("#ffffff90", width=1, style=pg.QtCore.Qt.PenStyle.DotLine))
                self.addItem(line)
                self.boundaries.append(line)
            what = (f"clip {dd[0]:+.1f} frames" if model == "constant"
                    else f"{model} track {dd[0]:+.1f} \u2192 {dd[-1]:+.1f} frames")
            title += f" \u00b7 <span style='color:#fff'>{what}, confidence {confidence:.2f}</span>"
            lo, hi = min(-max_drift, float(np.nanmin(dd)) - 3), max(max_drift, float(np.nanmax(dd)) + 3)
        else:
            self.track.setData([], [])
            lo, hi = -max_drift, max_drift
        self.setTitle(title, color="#c8c8d0", size="10pt")
        self.setYRange(lo - 0.5, hi + 0.5, padding=0)
        if len(times):
            self.setXRange(0, float(times[-1]) + 0.5, padding=0.01)

    def clear_result(self) -> None:
        self.points.setData([], [])
        self.track.setData([], [])
        for b in self.boundaries:
            self.removeItem(b)
        self.boundaries = []
        self.x = np.zeros(0)

    def set_cursor(self, t: float) -> None:
        self.cursor.setPos(t)

    def _clicked(self, ev) -> None:
        vb = self.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        self.seekRequested.emit(max(0.0, float(vb.mapSceneToView(ev.scenePos()).x())))


class CurvePlot(pg.PlotWidget):
    """Sliding-window evidence over the 19 shifts: each method's curve for the block under the
    cursor (solid) and for the whole clip (dashed), each scaled to 0..1 so that methods with
    different units share an axis; where a curve peaks is what matters."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumHeight(120)
        self.setLabel("bottom", "drift (frames)")
        self.setLabel("left", "relative score")
        self.showGrid(x=True, y=True, alpha=0.25)
        _cache_axes(self)
        self.setMouseEnabled(x=False, y=False)
        self.setYRange(-0.05, 1.1, padding=0)
        self.addLegend(offset=(10, 10))
        self.block_drift = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(_COLOURS["wlos"], width=1.5),
                                           label="WLOS", labelOpts={"position": 0.95, "color": _COLOURS["wlos"]})
        self.addItem(self.block_drift)
        self.block_drift.hide()
        self.setTitle("correlation curves", color="#c8c8d0", size="10pt")
        self.shifts = np.asarray(SHIFTS, float)
        # Items are made once and only fed new data: creating plot and legend items is what makes
        # pyqtgraph slow, and a result arrives while the window must stay responsive.
        self.block_items: dict[str, pg.PlotDataItem] = {}
        self.clip_items: dict[str, pg.PlotDataItem] = {}
        for m in ("c3", "qmi"):
            c = _COLOURS[m]
            self.block_items[m] = self.plot([], [], pen=pg.mkPen(c, width=2), symbol="o", symbolSize=4,
                                            symbolBrush=c, symbolPen=None, name=f"{method_name(m)} block",
                                            connect="finite")
            self.clip_items[m] = self.plot([], [], pen=pg.mkPen(c, width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine),
                                           name=f"{method_name(m)} clip")
        self.methods: list[str] = []

    def set_methods(self, methods, shifts_frames: np.ndarray) -> None:
        """Which methods' curves the result has, and the shifts in the clip's frames."""
        self.clear_curves()
        self.methods = [m for m in methods if m in self.block_items]
        self.shifts = shifts_frames
        self.setXRange(float(shifts_frames[0]) - 0.5, float(shifts_frames[-1]) + 0.5, padding=0)

    def clear_curves(self) -> None:
        for item in [*self.block_items.values(), *self.clip_items.values()]:
            item.setData([], [])
        self.methods = []
        self.block_drift.hide()

    def show_clip(self, curves: dict[str, np.ndarray]) -> None:
        for m, item in self.clip_items.items():
            c = curves.get(m) if m in self.methods else None
            item.setData(self.shifts, _unit(c)) if c is not None else item.setData([], [])

    def show_block(self, curves: dict[str, np.ndarray | None], wlos_drift: float | None) -> None:
        for m, item in self.block_items.items():
            c = curves.get(m) if m in self.methods else None
            # Near the clip's ends some shifts have no audio (NaN): the curve shows the rest.
            if c is None or not np.any(np.isfinite(c)):
                item.setData([], [])
            else:
                item.setData(self.shifts, _unit(c))
        if wlos_drift is not None and np.isfinite(wlos_drift):
            self.block_drift.setPos(wlos_drift)
            self.block_drift.show()
        else:
            self.block_drift.hide()


def _unit(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, float)
    lo, hi = np.nanmin(c), np.nanmax(c)
    return (c - lo) / (hi - lo) if hi > lo else np.where(np.isfinite(c), 0.5, np.nan)
