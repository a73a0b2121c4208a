"""Shared fixtures. The GRID sample lives in ../shared (never in the repo): tests that need it skip
with a reason when it is absent, and fail instead when WLOS_REQUIRE_SHARED=1 (as in CI)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _null_sound_output() -> None:
    """Give PortAudio an ALSA 'default' output that discards what it is sent, so the preview can be
    tested on a machine without a sound card. Must run before sounddevice is first imported."""
    alsa_conf = Path("/usr/share/alsa/alsa.conf")
    if "ALSA_CONFIG_PATH" in os.environ or not alsa_conf.exists():
        return
    import tempfile
    null = Path(tempfile.gettempdir()) / "wlos-tests-alsa-null.conf"
    null.write_text("pcm.!default {\n  type null\n}\n")
    os.environ["ALSA_CONFIG_PATH"] = f"{alsa_conf}:{null}"


_null_sound_output()
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SAMPLE = SHARED / "grid_s1_sample"
UNSEEN = SHARED / "unseen_dev"


def _need(folder: Path, pattern: str, at_least: int) -> Path:
    clips = sorted(folder.glob(pattern)) if folder.is_dir() else []
    if len(clips) < at_least:
        msg = f"shared clips not found in {folder}"
        if os.environ.get("WLOS_REQUIRE_SHARED") == "1":
            pytest.fail(msg + " (WLOS_REQUIRE_SHARED=1)")
        pytest.skip(msg)
    return folder


def _need_sample() -> Path:
    return _need(SAMPLE, "*.mpg", 4)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return _need_sample()


@pytest.fixture(scope="session")
def unseen_dir() -> Path:
    """Two speakers who are not in GRID (never trained on): six CREMA-D clips and an interview."""
    return _need(UNSEEN, "*.*", 7)


@pytest.fixture(scope="session")
def sample_clips(sample_dir) -> list[Path]:
    return sorted(sample_dir.glob("*.mpg"))


@pytest.fixture(scope="session")
def grid_clip(sample_clips) -> Path:
    return sample_clips[0]


@pytest.fixture(scope="session")
def long_source(sample_clips):
    """Four GRID clips back to back (12 s): frames, audio, rate."""
    import mediagen
    return mediagen.concat(sample_clips[:4])


@pytest.fixture(scope="session")
def made(tmp_path_factory, long_source):
    """Factory of test clips from the 12 s source, cached per set of arguments."""
    import mediagen
    folder = tmp_path_factory.mktemp("made")
    cache: dict = {}

    def make(name: str, **kw) -> Path:
        if name not in cache:
            cache[name] = mediagen.write_clip(folder / name, *long_source, **kw)
        return cache[name]
    return make
