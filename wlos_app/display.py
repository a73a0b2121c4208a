"""Whether a window can be shown here, asked before Qt is loaded: Qt itself aborts the process
(exit 134, "Reinstalling the application may fix this problem") when it finds no display."""
from __future__ import annotations

import os
import socket
import sys

# Qt platforms that need no display server.
_HEADLESS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb"}


def display_problem() -> str | None:
    """None when a window can open; else why not, in a few words. Only Linux and the BSDs need a
    display server; Windows and macOS always have their own."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform in _HEADLESS:
        return None
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland and platform in ("", "wayland") and _wayland_reachable(wayland):
        return None
    x = os.environ.get("DISPLAY")
    if not x:
        return "no display (DISPLAY is not set)"
    if not _x_reachable(x):
        return f"the display {x} does not answer"
    return None


def _wayland_reachable(name: str) -> bool:
    path = name if os.path.isabs(name) else os.path.join(os.environ.get("XDG_RUNTIME_DIR", ""), name)
    return os.path.exists(path)


def _x_reachable(display: str) -> bool:
    """A local display (':0', 'unix:0') is a socket under /tmp/.X11-unix (or Linux's abstract one
    of the same name); a remote one (host:0, as ssh -X sets it) is a TCP port. Connect to it."""
    host, _, rest = display.rpartition(":")
    try:
        number = int(rest.split(".")[0])
    except ValueError:
        return False
    if host in ("", "unix") or host.startswith("/"):
        path = f"/tmp/.X11-unix/X{number}"
        for address in (path, "\0" + path):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(2.0)
                    s.connect(address)
                return True
            except OSError:
                continue
        return False
    try:
        with socket.create_connection((host, 6000 + number), timeout=2.0):
            return True
    except OSError:
        return False
