"""Shortcut answers for the exercises of lesson 03 · Images and video.

Each must FAIL: masks that mark everything or only the blue channel, fixed Canny thresholds or
no edges, eye boxes made up from the face boxes, a distance that ignores the frames or uses one
colour channel.
"""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _everything(image_bgr):
    return np.full(image_bgr.shape[:2], 255, dtype=np.uint8)


def _blue_channel(image_bgr):
    return np.where(image_bgr[:, :, 0] > 128, 255, 0).astype(np.uint8)


def _portrait_sized_mask(image_bgr):
    """A mask made once for the lesson's portrait, returned for every image."""
    return np.zeros((1600, 1280), dtype=np.uint8)


def _fixed_canny(blurred):
    import cv2

    return cv2.Canny(blurred, 100, 200)


def _no_edges(blurred):
    return np.zeros_like(blurred)


def _made_up_eyes(image_bgr, faces):
    """Two boxes per face where eyes usually are, without looking at the image."""
    eyes = []
    for x, y, w, h in faces:
        eyes += [
            (x + w // 5, y + h // 4, w // 5, h // 5),
            (x + 3 * w // 5, y + h // 4, w // 5, h // 5),
        ]
    return eyes


def _no_search(image_bgr, faces):
    return [tuple(face) for face in faces]  # the face boxes themselves, as "eyes"


def _no_distance(frame_a, frame_b):
    return 0.0


def _blue_channel_distance(frame_a, frame_b):
    import cv2

    hists = [cv2.calcHist([f], [0], None, [256], [0, 256]) for f in (frame_a, frame_b)]
    return cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA)


def _correlation_distance(frame_a, frame_b):
    import cv2

    hists = []
    for frame in (frame_a, frame_b):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        hists.append(cv2.calcHist([gray], [0], None, [256], [0, 256]))
    return 1 - cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_CORREL)


SHORTCUTS = {
    "03.1": [
        Shortcut("a mask that marks every pixel", lambda: (_everything, {})),
        Shortcut(
            "the blue channel alone", lambda: (_blue_channel, {}), forbidden=("(100, 80, 50)",)
        ),
        Shortcut("a mask sized for the lesson's portrait", lambda: (_portrait_sized_mask, {})),
    ],
    "03.2": [
        Shortcut(
            "fixed thresholds", lambda: (_fixed_canny, {}), forbidden=("0.67 * m", "1.33 * m")
        ),
        Shortcut("no edges at all", lambda: (_no_edges, {})),
    ],
    "03.3": [
        Shortcut("eye boxes made up from the face boxes", lambda: (_made_up_eyes, {})),
        Shortcut("the face boxes as eyes", lambda: (_no_search, {}), forbidden=("x + ex",)),
    ],
    "03.4": [
        Shortcut("a constant distance", lambda: (_no_distance, {})),
        Shortcut("the blue channel's histogram", lambda: (_blue_channel_distance, {})),
        Shortcut("one minus the correlation", lambda: (_correlation_distance, {})),
    ],
}
