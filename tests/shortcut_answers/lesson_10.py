"""Shortcut answers for lesson 10's checks (tests/test_exercises.py feeds them; each must FAIL)."""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut

_RNG = np.random.default_rng(9)
_Y, _X = np.mgrid[0:12, 0:16] / 16.0
_PHOTO = np.clip(np.stack([_X, _Y, 0.5 * (_X + _Y)], axis=-1)[None], 0, 1).astype("float32")
_CONTEXT = {"content_image": _PHOTO}


def _curve(start, end, n=20):
    return list(np.linspace(start, end, n))


def _photo_every_time():
    runs = {
        w: {"image": _PHOTO.copy(), "content": [0.0] + _curve(0.1 * i, 0.5 * i, 19)}
        for i, w in enumerate((1e3, 1e4, 1e5), 1)
    }
    return runs, _CONTEXT


def _continued_runs():
    runs, image = {}, _PHOTO.copy()
    for i, w in enumerate((1e3, 1e4, 1e5), 1):
        image = np.clip(image + 0.05 * _RNG.normal(size=image.shape), 0, 1)
        runs[w] = {"image": image, "content": _curve(1.0 * i, 1.2 * i)}  # never starts at 0
    return runs, _CONTEXT


def _noise_images():
    runs = {
        w: {"image": _RNG.uniform(size=_PHOTO.shape), "content": [0.0] + _curve(0.1 * i, i, 19)}
        for i, w in enumerate((1e3, 1e4, 1e5), 1)
    }
    return runs, _CONTEXT


def _fabricated_noise_run():
    answer = {
        "photo": {"image": _PHOTO.copy(), "content": [0.0] + _curve(0.1, 0.3, 19)},
        "noise": {"image": _RNG.uniform(size=_PHOTO.shape), "content": _curve(8.0, 1.0)},
    }
    return answer, _CONTEXT


def _one_image_for_both():
    image = np.clip(_PHOTO + 0.02 * _RNG.normal(size=_PHOTO.shape), 0, 1)
    answer = {
        "photo": {"image": image, "content": [0.0] + _curve(0.1, 0.3, 19)},
        "noise": {"image": image, "content": _curve(8.0, 1.0)},
    }
    return answer, _CONTEXT


SHORTCUTS = {
    "10.1": [
        Shortcut("F^T F without dividing by M", lambda: ([[6.0, 5.0], [5.0, 11.0]], {}), ("1.25",)),
        Shortcut(
            "products of positions instead of channels (4 x 4)",
            lambda: (np.eye(4).tolist(), {}),
            ("1.25", "1.5", "2.75"),
        ),
    ],
    "10.2": [
        Shortcut(
            "the feature map's height and width", lambda: ((32, 42), {}), ("(512, 512)", "512")
        ),
        Shortcut("block3_conv1's channels", lambda: ((256, 256), {}), ("(512, 512)", "512")),
    ],
    "10.3": [
        Shortcut(
            "made-up content losses in the old format",
            lambda: ({1e3: 1.0, 1e4: 2.0, 1e5: 3.0}, _CONTEXT),
        ),
        Shortcut("the photo passed as every run's image", _photo_every_time),
        Shortcut("runs continued from the previous image", _continued_runs),
        Shortcut("random images with rising curves", _noise_images),
    ],
    "10.4": [
        Shortcut(
            "made-up curves in the old format",
            lambda: ({"photo": [0.0] + [0.2] * 19, "noise": _curve(8.0, 1.0)}, _CONTEXT),
        ),
        Shortcut("fresh noise passed as the noise run's image", _fabricated_noise_run),
        Shortcut("one image passed for both runs", _one_image_for_both),
    ],
}
