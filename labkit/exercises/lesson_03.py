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
    hint="convert to a colour space with a hue channel (mind the channel order OpenCV stores "
    "images in), keep a band of blue hues, and ask for enough saturation and brightness so that "
    "greys, white and black stay out; cv2.inRange builds a mask from lower and upper bounds.",
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


def _cascade_eyes(image_bgr: np.ndarray, faces: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Every box the eye cascade can find in the face regions, with lenient settings."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml")
    gray = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    found = []
    for x, y, w, h in faces:
        boxes = cascade.detectMultiScale(gray[y : y + h, x : x + w], 1.05, 3, minSize=(8, 8))
        found += [(x + ex, y + ey, ew, eh) for ex, ey, ew, eh in boxes]
    return found


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


@_register(
    "03.3",
    "Eyes inside faces",
    expects="a function find_eyes(image_bgr, faces) -> list of eye boxes (x, y, w, h) in image "
    "coordinates, faces being the (x, y, w, h) face boxes",
    verifies="on the three portraits every eye box lies inside a face and is one the eye cascade "
    "can find there, and every face has 1 to 3 eyes",
    hint="run the eye cascade only on the region of each face box, and remember that what it "
    "finds there is measured from the region's corner, not the image's; raise minNeighbors if "
    "a face gets too many eyes.",
)
def _check_03_3(answer: Any, **context: Any) -> str:
    find_eyes = _callable(answer, "a function find_eyes(image_bgr, faces)")
    counts = []
    for name, image in _portraits().items():
        detected = _detect_faces(image)
        # the same faces in boxes grown up and to the left: real eyes stay inside them, but eye
        # boxes guessed from the box's proportions move off the eyes
        grown = [
            (max(0, x - w // 3), max(0, y - h // 3), w + min(x, w // 3), h + min(y, h // 3))
            for x, y, w, h in detected
        ]
        for faces, label in ((detected, name), (np.array(grown), f"{name} (larger face boxes)")):
            counts.append(_eyes_per_face(find_eyes, image, faces, label))
    return "eyes per face: " + ", ".join(counts[::2])


def _eyes_per_face(find_eyes: Any, image: np.ndarray, faces: np.ndarray, name: str) -> str:
    """Checks find_eyes on one image and its face boxes; returns "name [eyes per face]"."""
    eyes = [tuple(int(v) for v in box) for box in find_eyes(image.copy(), faces)]
    _need(all(box[2] > 0 and box[3] > 0 for box in eyes), f"{name}: an eye box has no area.")
    per_face = []
    for fx, fy, fw, fh in faces:
        inside = [
            (ex, ey, ew, eh)
            for ex, ey, ew, eh in eyes
            if fx - 2 <= ex and ex + ew <= fx + fw + 2 and fy - 2 <= ey and ey + eh <= fy + fh + 2
        ]
        per_face.append(len(inside))
    _need(
        sum(per_face) == len(eyes),
        f"{name}: some eye boxes are outside every face: are they in image coordinates?",
    )
    _need(min(per_face) >= 1, f"{name}: a face has no eye: search inside each face box.")
    _need(max(per_face) <= 3, f"{name}: a face has more than 3 eyes: raise minNeighbors.")
    candidates = _cascade_eyes(image, faces)
    _need(
        all(any(_overlap(box, c) >= 0.4 for c in candidates) for box in eyes),
        f"{name}: some eye boxes are not where the eye cascade finds eyes in that face: are "
        "they detections of the eye cascade, in image coordinates?",
    )
    return f"{name} {per_face}"


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
    "histograms, on pairs of grey and colour test frames",
    hint="the frames are BGR: turn each into grey levels, count them in a 256-bin histogram "
    "(cv2.calcHist takes lists of images, channels, sizes and ranges), normalise it, and let "
    "cv2.compareHist measure the distance with its Bhattacharyya method.",
)
def _check_03_4(answer: Any, **context: Any) -> None:
    import cv2

    hist_distance = _callable(answer, "a function hist_distance(frame_a, frame_b)")
    images = [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in _test_images()]
    rng = np.random.default_rng(2)
    shifted = np.clip(images[1].astype(int) + 15 + rng.integers(-3, 4, images[1].shape), 0, 255)
    # colour frames: the channels differ, so one channel's histogram is not the grey one
    tinted = [
        np.clip(image.astype(int) * np.array(gains), 0, 255).astype(np.uint8)
        for image, gains in zip(
            images, ((1.3, 0.6, 0.9), (0.5, 1.1, 1.4), (0.8, 1.4, 0.4)), strict=True
        )
    ]
    pairs = [
        (images[0], images[0]),
        (images[0], images[1]),
        (images[1], shifted.astype(np.uint8)),
        (images[1], images[2]),
        (tinted[0], tinted[1]),
        (tinted[1], tinted[2]),
        (images[1], tinted[1]),
    ]
    for i, (a, b) in enumerate(pairs):
        got = _number(hist_distance(a.copy(), b.copy()), "the distance")
        _need(
            abs(got - _hist_distance_reference(a, b)) <= 1e-3,
            f"test pair {i + 1}: your distance is not the Bhattacharyya distance of the 256-bin "
            "grayscale histograms.",
        )
