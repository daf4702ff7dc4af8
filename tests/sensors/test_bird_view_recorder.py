"""Saving bird's-eye-view frames as a GIF (or MP4 when imageio-ffmpeg is installed)."""

from __future__ import annotations

import sys

import imageio.v3 as iio
import numpy as np
import pytest

from rllib_integration.sensors.birdview import palette
from rllib_integration.sensors.birdview.recorder import FrameRecorder


def frames(n, size=48):
    out = []
    for i in range(n):
        frame = np.zeros((size, size, 3), np.uint8)
        frame[:, : (i + 1) * size // n] = palette.HERO
        out.append(frame)
    return out


def test_gif_holds_every_frame_at_the_requested_rate(tmp_path):
    path = tmp_path / "episodes" / "bev.gif"
    with FrameRecorder(path, fps=10) as recorder:
        for frame in frames(6):
            recorder.append(frame)
    assert recorder.frames == 6
    stored = iio.imread(path)
    assert stored.shape == (6, 48, 48, 3)
    np.testing.assert_array_equal(stored[-1], frames(6)[-1])
    assert iio.immeta(path)["duration"] == 100


def test_nothing_is_written_without_frames(tmp_path):
    FrameRecorder(tmp_path / "empty.gif").close()
    assert not (tmp_path / "empty.gif").exists()


def test_bad_paths_and_frames_get_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"bev\.avi.*\.gif or \.mp4"):
        FrameRecorder(tmp_path / "bev.avi")
    with pytest.raises(ValueError, match="fps must be positive"):
        FrameRecorder(tmp_path / "bev.gif", fps=0)
    recorder = FrameRecorder(tmp_path / "bev.gif")
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        recorder.append(np.zeros((8, 8, 9), np.uint8))


def test_mp4_without_ffmpeg_says_what_to_install(tmp_path, monkeypatch):
    # imageio-ffmpeg is a dependency; a user's environment may still lack it.
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import raises ImportError
    with pytest.raises(ValueError, match="pip install imageio-ffmpeg"):
        FrameRecorder(tmp_path / "bev.mp4")


def test_a_closed_recorder_does_not_overwrite_its_file(tmp_path):
    recorder = FrameRecorder(tmp_path / "bev.gif")
    recorder.append(frames(2)[0])
    recorder.close()
    with pytest.raises(ValueError, match="closed"):
        recorder.append(frames(2)[1])
    assert iio.improps(tmp_path / "bev.gif").n_images == 1
