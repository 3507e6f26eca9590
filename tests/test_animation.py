"""`glitchzap.animation`: the Animation value, easing curves and per-frame seeds."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from animated_photos import panned_frames
from glitchzap.animation import CURVES, Animation, frame_seed, progress
from glitchzap.recipes import Ease
from glitchzap.rendering import frame_effects

ONE_WAY = [curve for curve in CURVES if curve != "there-and-back"]


@pytest.mark.parametrize("curve", ONE_WAY)
@pytest.mark.parametrize("count", [2, 5, 30])
def test_one_way_curves_run_from_start_to_end(curve: str, count: int) -> None:
    values = [progress(curve, i, count) for i in range(count)]
    assert values[0] == 0 and values[-1] == pytest.approx(1)
    assert all(a <= b for a, b in itertools.pairwise(values))  # never turns back


def test_curves_differ_in_pace() -> None:
    middle = {curve: progress(curve, 2, 5) for curve in ONE_WAY}
    assert middle["linear"] == 0.5
    assert middle["ease-in"] < 0.5 < middle["ease-out"]  # slow start / slow end
    assert middle["ease-in-out"] == pytest.approx(0.5)
    assert progress("ease-in-out", 1, 5) < progress("linear", 1, 5)


@pytest.mark.parametrize("count", [4, 12, 31])
def test_there_and_back_returns_so_the_loop_joins(count: int) -> None:
    values = [progress("there-and-back", i, count) for i in range(count)]
    assert values[0] == 0
    assert max(values) > 0.99 and values[count // 2] == max(values)  # the far end, mid-loop
    for i in range(1, count):  # symmetric: frame i and frame count - i are the same value
        assert values[i] == pytest.approx(values[count - i])
    # The last frame leads back towards the first as the second leads away from it.
    assert values[-1] == pytest.approx(values[1])


def test_a_single_frame_is_at_the_end_of_a_one_way_curve() -> None:
    assert progress("linear", 0, 1) == 1.0
    assert progress("there-and-back", 0, 1) == 0.0


def test_frame_effects_eases_from_defaults_and_rounds_integers() -> None:
    ease = {
        "wave.phase": Ease.model_validate({"from": 0, "to": 300}),
        "slices.count": Ease.model_validate({"from": 0, "to": 9, "curve": "ease-in"}),
    }
    effects = {"wave": {"amplitude": 6.0, "wavelength": 80.0, "direction": "vertical"}}
    first = frame_effects(effects, ease, 0, 4)
    last = frame_effects(effects, ease, 3, 4)
    middle = frame_effects(effects, ease, 2, 4)
    assert first["wave"] == {**effects["wave"], "phase": 0.0}  # the rest of wave kept
    assert last["wave"]["phase"] == pytest.approx(300)
    assert last["slices"]["count"] == 9 and first["slices"]["count"] == 0
    assert middle["slices"]["count"] == round(9 * (2 / 3) ** 2)
    assert isinstance(middle["slices"]["count"], int)
    assert last["slices"]["band_height"] == 24  # slices was not in `effects`: its defaults
    assert effects == {"wave": {"amplitude": 6.0, "wavelength": 80.0, "direction": "vertical"}}


def test_frame_seeds() -> None:
    assert [frame_seed(7, "per-frame", i) for i in range(3)] == [7, 8, 9]
    assert [frame_seed(7, "fixed", i) for i in range(3)] == [7, 7, 7]
    assert frame_seed(None, "per-frame", 5) is None  # a random seed stays random
    assert frame_seed(2**63 - 1, "per-frame", 1) == 0  # stays within the recipe's range


def test_an_animation_holds_frames_of_one_shape_with_a_duration_each() -> None:
    frames = panned_frames(3)
    animation = Animation(frames, (40, 60, 80), loop=None)
    assert animation.animated and len(animation) == 3 and animation.total_ms == 180
    assert animation.shape == (96, 128, 3)
    still = Animation.still(frames[0])
    assert not still.animated and still.durations == (100,) and still.loop == 0
    with pytest.raises(ValueError, match="one duration per frame"):
        Animation(frames, (40, 60))
    with pytest.raises(ValueError, match="one shape"):
        Animation([frames[0], np.ascontiguousarray(frames[1][:50])], (40, 60))
