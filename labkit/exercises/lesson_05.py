"""Checks for the exercises of lesson 05 · Audio as signals.

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


def _engine_like(frequency: float, rate: int, seconds: float, rng: np.random.Generator):
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * frequency / 2 * t)
    for k, amplitude in enumerate([1.0, 0.6, 0.35], start=1):
        x += amplitude * np.sin(2 * np.pi * k * frequency * t + k)
    return x + 0.5 * rng.standard_normal(len(t))


@_register(
    "05.1",
    "Finer than one bin",
    expects="a function peak_frequency(x, rate) -> float: the frequency (Hz) of the strongest "
    "spectral peak, estimated finer than one FFT bin",
    verifies="on 1-second engine-like recordings (1 Hz bins) your estimate is within 0.15 Hz of "
    "the true firing frequency every time",
    hint="the strongest bin alone is only good to half a bin: either zero-pad the windowed "
    "signal before the FFT (the n= argument of np.fft.rfft) or fit a parabola through the dB "
    "values of the peak bin and its two neighbours and take its vertex.",
)
def _check_05_1(answer: Any, **context: Any) -> None:
    peak_frequency = _callable(answer, "a function peak_frequency(x, rate)")
    rng = np.random.default_rng(4)
    rate = 8000
    for frequency in rng.uniform(40, 250, 6):
        x = _engine_like(float(frequency), rate, 1.0, rng)
        got = _number(peak_frequency(x.copy(), rate), "the frequency")
        _need(
            abs(got - frequency) <= 0.15,
            "at least one estimate is more than 0.15 Hz off: one bin is 1 Hz here, so rounding "
            "to the nearest bin is not enough.",
        )


def _voiced_frame(f0: float, rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    amplitudes = [
        0.5,
        1.0,
        0.7,
        0.4,
        0.2,
    ]  # the 2nd harmonic is the strongest, as in speech
    x = sum(a * np.sin(2 * np.pi * (k + 1) * f0 * t + k) for k, a in enumerate(amplitudes))
    return x + 0.05 * rng.standard_normal(len(t))


@_register(
    "05.2",
    "A pitch track",
    expects="a function pitch(frame, rate) -> float: F0 in Hz of one voiced frame, by "
    "autocorrelation between 80 and 400 Hz",
    verifies="your pitch is within 3% of the true F0 on 40 ms voiced test frames whose second "
    "harmonic is stronger than the fundamental",
    hint="use the autocorrelation of section 4, not the strongest FFT peak (the second "
    "harmonic can be louder than F0); search only the lags of 80-400 Hz and convert the best "
    "lag to a frequency.",
)
def _check_05_2(answer: Any, **context: Any) -> None:
    pitch = _callable(answer, "a function pitch(frame, rate)")
    rng = np.random.default_rng(9)
    rate = 16000
    for f0 in (110.0, 165.0, 240.0, 330.0):
        got = _number(pitch(_voiced_frame(f0, rate, 0.04, rng), rate), "the pitch")
        _need(abs(got - f0) <= 0.03 * f0, "at least one test frame gets a wrong pitch.")
