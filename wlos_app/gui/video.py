"""The picture: a decoder thread that serves frames by time, the video view with its face
overlays, and the enlarged lip crop and flow."""
from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QThread, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from ..errors import reason


def to_qimage(rgb: np.ndarray) -> QImage:
    """A QImage that owns a copy of an (h, w, 3) uint8 RGB or (h, w) gray array."""
    a = np.ascontiguousarray(rgb)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_RGB888 if a.ndim == 3 else QImage.Format.Format_Grayscale8
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


class FrameDecoder(QThread):
    """Owns a FrameReader for one clip. `request(t)` asks for the frame shown at t; requests that
    pile up while a frame decodes are merged into the newest, so scrubbing and playback never
    queue work behind the picture the user wants now."""

    frameReady = Signal(float, float, QImage)  # requested time, the frame's own time, picture
    failed = Signal(str)

    def __init__(self, path: str, parent=None):
        super().__init__(parent)
        self.path = path
        self._want: float | None = None
        self._cv = threading.Condition()

    def request(self, t: float) -> None:
        with self._cv:
            self._want = max(0.0, float(t))
            self._cv.notify()

    def stop(self) -> None:
        self.requestInterruption()
        with self._cv:
            self._cv.notify()
        self.wait()

    def run(self) -> None:
        from ..core.media import FrameReader
        try:
            reader = FrameReader(self.path)
        except Exception as exc:
            self.failed.emit(reason(exc))
            return
        with reader:
            while not self.isInterruptionRequested():
                with self._cv:
                    while self._want is None and not self.isInterruptionRequested():
                        self._cv.wait(0.2)
                    t, self._want = self._want, None
                if t is None:
                    continue
                try:
                    tf, rgb = reader.frame_at(t)
                except Exception as exc:
                    self.failed.emit(reason(exc))
                    continue
                self.frameReady.emit(t, tf, to_qimage(rgb))


# Landmark groups drawn as open or closed polylines (iBUG 300-W numbering).
_GROUPS = [(0, 17, False), (17, 22, False), (22, 27, False), (27, 31, False), (31, 36, False),
           (36, 42, True), (42, 48, True), (48, 60, True), (60, 68, True)]


class VideoView(QWidget):
    """Draws the current frame scaled to fit, and over it (each switchable) the tracked face box,
    the 68 landmarks and the square the mouth crop was cut from. Overlay coordinates are in the
    source's pixels and are scaled with the picture. With several faces, every face's box: the one
    heard thick, the others thin, each with its number; a click on the picture reports where, in
    source pixels (`faceClicked`), so the window can analyse the face there."""

    faceClicked = Signal(float, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 180)
        self.image: QImage | None = None
        self.source_size = (1, 1)
        self.box = self.landmarks = self.mouth = None
        self.faces: list[tuple[int, np.ndarray, bool]] = []  # (track id, box, heard) with several faces
        self.show_box = self.show_landmarks = self.show_mouth = True
        self.placeholder = "Drop a video here, or File \u2192 Open"

    def sizeHint(self) -> QSize:
        return QSize(640, 480)

    def set_frame(self, image: QImage | None, source_size=None, box=None, landmarks=None, mouth=None,
                  faces=()) -> None:
        """mouth: (4, 2) corners of the crop square in source pixels; faces: (id, box, heard) of
        every face in this frame when there are several."""
        self.image = image
        if source_size:
            self.source_size = source_size
        self.box, self.landmarks, self.mouth = box, landmarks, mouth
        self.faces = list(faces)
        self.setToolTip("click a face to analyse that one" if len(self.faces) > 1 else "")
        self.update()

    def to_source(self, pos: QPointF) -> tuple[float, float] | None:
        """A widget point in the source's pixels, or None off the picture."""
        if self.image is None:
            return None
        r = self._target()
        if not r.contains(pos):
            return None
        return ((pos.x() - r.x()) * self.source_size[0] / r.width(),
                (pos.y() - r.y()) * self.source_size[1] / r.height())

    def mousePressEvent(self, event) -> None:
        at = self.to_source(event.position())
        if at is not None and event.button() == Qt.MouseButton.LeftButton:
            self.faceClicked.emit(*at)
        super().mousePressEvent(event)

    def _target(self) -> QRectF:
        iw, ih = self.image.width(), self.image.height()
        s = min(self.width() / iw, self.height() / ih)
        return QRectF((self.width() - iw * s) / 2, (self.height() - ih * s) / 2, iw * s, ih * s)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        try:
            self._paint(p)
        finally:
            p.end()

    def _paint(self, p: QPainter) -> None:
        p.fillRect(self.rect(), QColor(24, 24, 28))
        if self.image is None:
            p.setPen(QColor(170, 170, 180))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        r = self._target()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(r, self.image)
        sx = r.width() / self.source_size[0]
        sy = r.height() / self.source_size[1]

        def pt(x, y) -> QPointF:
            return QPointF(r.x() + x * sx, r.y() + y * sy)

        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for tid, b, heard in self.faces:
            if self.show_box and np.all(np.isfinite(b)):
                p.setPen(QPen(QColor(face_colour(tid)), 3 if heard else 1))
                p.drawRect(QRectF(pt(b[0], b[1]), pt(b[2], b[3])))
                p.drawText(pt(b[0], b[1]) + QPointF(3, -4), f"face {tid}" + (" (heard)" if heard else ""))
        if self.show_box and not self.faces and self.box is not None and np.all(np.isfinite(self.box)):
            x0, y0, x1, y1 = self.box
            p.setPen(QPen(QColor(80, 200, 255), 2))
            p.drawRect(QRectF(pt(x0, y0), pt(x1, y1)))
        if self.show_mouth and self.mouth is not None and np.all(np.isfinite(self.mouth)):
            p.setPen(QPen(QColor(255, 200, 40), 2))
            p.drawPolygon(QPolygonF([pt(x, y) for x, y in self.mouth]))
        if self.show_landmarks and self.landmarks is not None and np.all(np.isfinite(self.landmarks)):
            p.setPen(QPen(QColor(120, 255, 120, 200), 1))
            for a, b, closed in _GROUPS:
                poly = QPolygonF([pt(x, y) for x, y in self.landmarks[a:b]])
                p.drawPolygon(poly) if closed else p.drawPolyline(poly)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 80, 80))
            rad = max(1.5, 1.2 * min(sx, sy))
            for x, y in self.landmarks:
                p.drawEllipse(pt(x, y), rad, rad)


# One colour per face, in the video view and the drift plot (face 0, 1, ...).
FACE_COLOURS = ("#50c8ff", "#ff9f40", "#b48cff", "#7ddc7d", "#ff6aa0", "#e0e070")


def face_colour(tid: int) -> str:
    return FACE_COLOURS[tid % len(FACE_COLOURS)] if tid >= 0 else "#9a9aa8"


def flow_colours(v: np.ndarray) -> np.ndarray:
    """(h, w) flow scaled to [0, 1] (0.5 = still) as RGB: blue = moving up, red = moving down."""
    d = np.clip((v - 0.5) * 2.0, -1.0, 1.0)
    rgb = np.empty(v.shape + (3,), np.float32)
    rgb[..., 0] = 1.0 - np.clip(-d, 0, 1)
    rgb[..., 1] = 1.0 - np.abs(d)
    rgb[..., 2] = 1.0 - np.clip(d, 0, 1)
    return (rgb * 255).astype(np.uint8)


class LipView(QWidget):
    """The 32x32 mouth crop the network sees and its vertical flow, enlarged without smoothing."""

    def __init__(self, parent=None, scale: int = 4):
        super().__init__(parent)
        self.scale = scale
        side = 32 * scale
        lay = QGridLayout(self)  # crop and flow side by side: the panel stays short
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setHorizontalSpacing(6)
        self.crop_label, self.flow_label = QLabel(), QLabel()
        for col, (title, lab) in enumerate((("lip crop (32\u00d732)", self.crop_label),
                                            ("vertical flow", self.flow_label))):
            t = QLabel(title)
            t.setStyleSheet("color: #aab; font-size: 11px;")
            lay.addWidget(t, 0, col)
            lab.setFixedSize(side, side)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setStyleSheet("background: #18181c; color: #667; border: 1px solid #333;")
            lay.addWidget(lab, 1, col)
        legend = QLabel("<span style='color:#58f'>\u25a0</span> up &nbsp; "
                        "<span style='color:#f55'>\u25a0</span> down")
        legend.setStyleSheet("color: #aab; font-size: 11px;")
        lay.addWidget(legend, 2, 1)
        self.clear()

    def clear(self, text: str = "no face") -> None:
        self.crop = self.flow = None
        for lab in (self.crop_label, self.flow_label):
            lab.clear()
            lab.setText(text)

    def set_crop(self, crop: np.ndarray | None, flow01: np.ndarray | None) -> None:
        from PySide6.QtGui import QPixmap
        self.crop, self.flow = crop, flow01
        side = 32 * self.scale
        for lab, img in ((self.crop_label, crop), (self.flow_label, flow01)):
            if img is None:
                lab.clear()
                # A face without flow: the clip's first frame, or the frame after a lost face.
                lab.setText("no face" if crop is None else "no flow")
                continue
            q = to_qimage(img if img.dtype == np.uint8 else flow_colours(img))
            lab.setPixmap(QPixmap.fromImage(q).scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                      Qt.TransformationMode.FastTransformation))
