"""Checks for the exercises of lesson 03 · Images and video.

Registered in :mod:`labkit.exercises` when it is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labkit.exercises import (
    _callable,
    _need,
    _number,
    _register,
)


def _colour_patches() -> tuple[np.ndarray, np.ndarray]:
    """A BGR test card: blue patches (mask must be on) and other colours (mask must be off)."""
    blues = [(255, 0, 0), (200, 60, 20), (180, 90, 40), (230, 120, 30), (150, 40, 10)]
    others = [
        (140, 170, 220),  # skin
        (90, 120, 180),  # darker skin
        (0, 0, 255),  # red
        (0, 200, 0),  # green
        (0, 220, 220),  # yellow
        (255, 255, 255),  # white
        (128, 128, 128),  # grey
        (0, 0, 0),  # black
        (180, 0, 180),  # purple
    ]
    size = 20
    colours = blues + others
    image = np.zeros((size, size * len(colours), 3), dtype=np.uint8)
    is_blue = np.zeros(image.shape[:2], dtype=bool)
    for i, colour in enumerate(colours):
        image[:, i * size : (i + 1) * size] = colour
        is_blue[:, i * size : (i + 1) * size] = i < len(blues)
    return image, is_blue


@_register(
    "03.1",
    "Colour spaces",
    expects="a function blue_mask(image_bgr) -> mask (height x width, 255 = blue)",
    verifies="your mask covers saturated blues and leaves skin, red, green, yellow, purple, "
    "white, grey and black out, on a test card",
    hint="convert with cv2.cvtColor(image, cv2.COLOR_BGR2HSV) (the image is BGR) and keep "
    "hues around 100-130 with enough saturation and brightness: cv2.inRange(hsv, lower, upper).",
)
def _check_03_1(answer: Any, **context: Any) -> None:
    blue_mask = _callable(answer, "a function blue_mask(image_bgr)")
    image, is_blue = _colour_patches()
    mask = np.asarray(blue_mask(image.copy()))
    _need(
        mask.shape == is_blue.shape,
        f"the mask must be height x width {is_blue.shape}, got {mask.shape}.",
    )
    on = mask > 0
    _need(on[is_blue].mean() >= 0.95, "the mask misses blue pixels of the test card.")
    _need(on[~is_blue].mean() <= 0.05, "the mask also marks pixels that are not blue.")


def _auto_canny_reference(blurred: np.ndarray) -> np.ndarray:
    import cv2

    m = float(np.median(blurred))
    low, high = np.clip([0.67 * m, 1.33 * m], 0, 255)
    return cv2.Canny(blurred, float(low), float(high))


def _test_images() -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(11)
    images = []
    for base, contrast in ((40, 30), (120, 60), (200, 25)):
        noise = rng.normal(0, 1, (120, 160)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), 6)
        image = base + contrast * smooth / smooth.std()
        cv2.rectangle(image, (30, 30), (90, 80), float(base + contrast), -1)
        cv2.circle(image, (120, 60), 25, float(base - contrast), -1)
        image = np.clip(image, 0, 255).astype(np.uint8)
        images.append(cv2.GaussianBlur(image, (5, 5), 0))
    return images


@_register(
    "03.2",
    "Automatic Canny thresholds",
    expects="a function auto_canny(blurred) -> edge image, blurred being a grayscale uint8 image",
    verifies="your edges match Canny with thresholds 0.67 and 1.33 times the median on dark, "
    "medium and bright test images",
    hint="take the median of the blurred image itself, compute both thresholds from it, clip "
    "them to the range 0-255 and pass them to cv2.Canny.",
)
def _check_03_2(answer: Any, **context: Any) -> None:
    auto_canny = _callable(answer, "a function auto_canny(blurred)")
    for i, image in enumerate(_test_images()):
        edges = np.asarray(auto_canny(image.copy()))
        expected = _auto_canny_reference(image)
        _need(edges.shape == expected.shape, f"edges must have the image's shape {image.shape}.")
        agree = np.mean((edges > 0) == (expected > 0))
        _need(
            agree >= 0.995,
            f"on test image {i + 1} (median {np.median(image):.0f}) your edges differ from the "
            "median rule's.",
        )


def _portraits() -> dict[str, np.ndarray]:
    import cv2

    from labkit import datasets

    faces_dir = datasets.fetch("faces")
    portraits = {}
    for name in ("obama", "biden", "two_people"):
        image = cv2.imread(str(faces_dir / f"{name}.jpg"))
        scale = 800 / max(image.shape[:2])
        portraits[name] = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return portraits


def _detect_faces(image_bgr: np.ndarray) -> np.ndarray:
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    return cascade.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=6, minSize=(60, 60))


@_register(
    "03.3",
    "Eyes inside faces",
    expects="a function find_eyes(image_bgr, faces) -> list of eye boxes (x, y, w, h) in image "
    "coordinates, faces being the (x, y, w, h) face boxes",
    verifies="on the three portraits every eye box lies inside a face, and every face has 1 to 3 "
    "eyes",
    hint="for each face box crop gray[y : y + h, x : x + w], run the eye cascade "
    "(cv2.data.haarcascades + 'haarcascade_eye.xml') on the crop, and add (x, y) to the "
    "corner of every eye box it finds.",
)
def _check_03_3(answer: Any, **context: Any) -> str:
    find_eyes = _callable(answer, "a function find_eyes(image_bgr, faces)")
    counts = []
    for name, image in _portraits().items():
        faces = _detect_faces(image)
        eyes = [tuple(int(v) for v in box) for box in find_eyes(image.copy(), faces)]
        _need(all(box[2] > 0 and box[3] > 0 for box in eyes), f"{name}: an eye box has no area.")
        per_face = []
        for fx, fy, fw, fh in faces:
            inside = [
                (ex, ey, ew, eh)
                for ex, ey, ew, eh in eyes
                if fx - 2 <= ex
                and ex + ew <= fx + fw + 2
                and fy - 2 <= ey
                and ey + eh <= fy + fh + 2
            ]
            per_face.append(len(inside))
        _need(
            sum(per_face) == len(eyes),
            f"{name}: some eye boxes are outside every face: are they in image coordinates?",
        )
        _need(min(per_face) >= 1, f"{name}: a face has no eye: search inside each face box.")
        _need(max(per_face) <= 3, f"{name}: a face has more than 3 eyes: raise minNeighbors.")
        counts.append(f"{name} {per_face}")
    return "eyes per face: " + ", ".join(counts)


def _hist_distance_reference(frame_a: np.ndarray, frame_b: np.ndarray) -> float:
    import cv2

    hists = []
    for frame in (frame_a, frame_b):
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        hist = cv2.calcHist([gray], [0], None, [256], [0, 256])
        hists.append(cv2.normalize(hist, hist))
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


@_register(
    "03.4",
    "A better cut detector",
    expects="a function hist_distance(frame_a, frame_b) -> float for two BGR frames",
    verifies="your distance equals the Bhattacharyya distance between the 256-bin grayscale "
    "histograms, on pairs of test frames",
    hint="convert each frame to grayscale, cv2.calcHist([gray], [0], None, [256], [0, 256]), "
    "cv2.normalize each histogram, then cv2.compareHist(h1, h2, cv2.HISTCMP_BHATTACHARYYA).",
)
def _check_03_4(answer: Any, **context: Any) -> None:
    import cv2

    hist_distance = _callable(answer, "a function hist_distance(frame_a, frame_b)")
    images = [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in _test_images()]
    rng = np.random.default_rng(2)
    shifted = np.clip(images[1].astype(int) + 15 + rng.integers(-3, 4, images[1].shape), 0, 255)
    pairs = [
        (images[0], images[0]),
        (images[0], images[1]),
        (images[1], shifted.astype(np.uint8)),
        (images[1], images[2]),
    ]
    for i, (a, b) in enumerate(pairs):
        got = _number(hist_distance(a.copy(), b.copy()), "the distance")
        _need(
            abs(got - _hist_distance_reference(a, b)) <= 1e-3,
            f"test pair {i + 1}: your distance is not the Bhattacharyya distance of the 256-bin "
            "grayscale histograms.",
        )
