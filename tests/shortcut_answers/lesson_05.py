"""Shortcut answers for the exercises of lesson 05 · Audio as signals.

Each must FAIL: the strongest FFT bin, a frequency typed in from the lesson, pitch taken from
the strongest harmonic.
"""

from __future__ import annotations

import numpy as np

from shortcut_answers import Shortcut


def _strongest_bin(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


def _lesson_engine_frequency(x, rate):
    return 2350 / 60 * 2  # the lesson's firing frequency, typed in


def _strongest_harmonic(frame, rate):
    spectrum = np.abs(np.fft.rfft(frame * np.hanning(len(frame)), n=8 * len(frame)))
    return np.argmax(spectrum) * rate / (8 * len(frame))


def _typical_voice(frame, rate):
    return 150.0


SHORTCUTS = {
    "05.1": [
        Shortcut(
            "the strongest FFT bin",
            lambda: (_strongest_bin, {}),
            forbidden=("(a - 2b + c)",),
        ),
        Shortcut(
            "the lesson's engine frequency typed in",
            lambda: (_lesson_engine_frequency, {}),
        ),
    ],
    "05.2": [
        Shortcut("the strongest (zero-padded) FFT peak", lambda: (_strongest_harmonic, {})),
        Shortcut("a typical voice pitch typed in", lambda: (_typical_voice, {})),
    ],
}
