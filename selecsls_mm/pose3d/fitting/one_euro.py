# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The One-Euro filter (Casiez, Roussel and Vogel, "1 Euro Filter: A Simple
Speed-based Low-pass Filter for Noisy Input in Interactive Systems",
CHI 2012), vectorised over people and joints, with frame times (any,
also variable, frame rate).

A first-order low-pass filter whose cutoff rises with the signal's speed:
``cutoff = min_cutoff + beta * |speed|``, so slow motion is smoothed hard
(little jitter) and fast motion little (little lag). Here the speed of a
joint is the norm of its velocity vector (the same cutoff for x, y, z), so
the filter does not depend on the axes' orientation.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np


@dataclass
class OneEuroState:
    """What the filter remembers, per batch row (person).

    Args:
        value (np.ndarray): Last filtered values (N, ...).
        speed (np.ndarray): Last filtered derivative (N, ...), per second.
        time (np.ndarray): (N, ) time of the last update, seconds.
    """
    value: np.ndarray
    speed: np.ndarray
    time: np.ndarray

    @staticmethod
    def stack(states: Sequence['OneEuroState']) -> 'OneEuroState':
        """One batched state from per-person states (each with N = 1)."""
        return OneEuroState(
            np.concatenate([s.value for s in states]),
            np.concatenate([s.speed for s in states]),
            np.concatenate([s.time for s in states]))

    def row(self, i: int) -> 'OneEuroState':
        """Person ``i``'s state (N = 1)."""
        return OneEuroState(self.value[i:i + 1], self.speed[i:i + 1],
                            self.time[i:i + 1])


def _times(time, num: int) -> np.ndarray:
    """(num, ) frame times from one time or one per row."""
    out = np.empty(num)
    out[:] = time
    return out


def _alpha(cutoff: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz."""
    tau = 1. / (2. * np.pi * cutoff)
    return 1. / (1. + tau / dt)


@dataclass
class OneEuroFilter:
    """One-Euro filter settings (the state lives in :class:`OneEuroState`).

    Args:
        min_cutoff (float): Cutoff in Hz at rest (lower: smoother).
        beta (float): Cutoff increase per unit of speed (unit/s), e.g.
            per mm/s for 3D joints (higher: less lag in fast motion).
        d_cutoff (float): Cutoff in Hz of the speed estimate.
        vector (bool): Speed is the norm over the last axis (a joint's
            velocity vector) rather than per coordinate.
    """
    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    vector: bool = True

    def start(self, value: np.ndarray, time: np.ndarray) -> OneEuroState:
        """A fresh state at the first observation (returned unfiltered)."""
        value = np.asarray(value, dtype=np.float64)
        time = _times(time, len(value))
        return OneEuroState(value.copy(), np.zeros_like(value), time)

    def __call__(self,
                 value: np.ndarray,
                 time: np.ndarray,
                 state: OneEuroState,
                 mask: Optional[np.ndarray] = None
                 ) -> Tuple[np.ndarray, OneEuroState]:
        """Filter one observation per row.

        Args:
            value (np.ndarray): (N, ...) new values.
            time (np.ndarray): (N, ) or scalar, seconds; must be later than
                the state's time.
            state (OneEuroState): The state after the previous observation.
            mask (np.ndarray, optional): Valid entries, shape ``value``'s
                without the last axis (e.g. (N, J) for joints); invalid ones
                keep their previous filtered value.

        Returns:
            tuple: filtered values (N, ...) and the new state.
        """
        value = np.asarray(value, dtype=np.float64)
        time = _times(time, len(value))
        dt = np.maximum(time - state.time, 1e-6)
        dt = dt.reshape((-1, ) + (1, ) * (value.ndim - 1))
        raw_speed = (value - state.value) / dt
        speed = state.speed + _alpha(self.d_cutoff, dt) * (
            raw_speed - state.speed)
        magnitude = np.sqrt((speed * speed).sum(-1, keepdims=True)) \
            if self.vector else np.abs(speed)
        cutoff = self.min_cutoff + self.beta * magnitude
        out = state.value + _alpha(cutoff, dt) * (value - state.value)
        if mask is not None:
            keep = ~np.asarray(mask, bool)[..., None]
            out = np.where(keep, state.value, out)
            speed = np.where(keep, state.speed, speed)
        return out, OneEuroState(out, speed, time)
