# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Person tracking across frames on 2D keypoints, so each person keeps an
id: Hungarian assignment on the keypoint distance normalised by the
person's size, with a gate; new ids for people no track takes; a track
survives a few missed frames.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class _Track:
    keypoints: np.ndarray  # (K, 2) last seen
    valid: np.ndarray  # (K, ) bool
    velocity: np.ndarray  # (K, 2) px/s, smoothed
    time: float
    missed: int = 0


def person_size(keypoints: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Diagonal (N, ) of each person's box around its valid keypoints
    (at least 1 px)."""
    mask = valid[..., None]
    # fmax / fmin skip NaN coordinates
    with np.errstate(invalid='ignore'):  # infinite keypoints: inf - inf
        span = np.fmax.reduce(np.where(mask, keypoints, -np.inf), 1) - \
            np.fmin.reduce(np.where(mask, keypoints, np.inf), 1)
        diag = np.sqrt((span * span).sum(-1))  # nobody valid: inf
    return np.where(np.isfinite(diag), np.maximum(diag, 1.), 1.)


def keypoint_cost(pred: np.ndarray,
                  pred_valid: np.ndarray,
                  det: np.ndarray,
                  det_valid: np.ndarray,
                  min_common: int = 3) -> np.ndarray:
    """Mean distance between shared keypoints over the track's size.

    Args:
        pred (np.ndarray): (T, K, 2) where the tracks are expected.
        pred_valid (np.ndarray): (T, K) bool.
        det (np.ndarray): (D, K, 2) this frame's people.
        det_valid (np.ndarray): (D, K) bool.
        min_common (int): Fewer shared keypoints give an infinite cost.

    Returns:
        np.ndarray: (T, D) costs.
    """
    both = pred_valid[:, None] & det_valid[None]  # T,D,K
    diff = pred[:, None] - det[None]
    dist = np.sqrt((diff * diff).sum(-1))
    count = both.sum(-1)
    mean = np.where(both, dist, 0.).sum(-1) / np.maximum(count, 1)
    cost = mean / person_size(pred, pred_valid)[:, None]
    return np.where(count >= min_common, cost, np.inf)


class KeypointTracker:
    """Gives each person in each frame a track id.

    Args:
        gate (float): Largest cost (keypoint distance / person size) at
            which a person continues a track.
        max_missed (int): Frames a track may go unseen and still continue.
        min_score (float): Keypoints at or above this score are used.
        velocity_smoothing (float): Weight of the newest velocity in the
            track's running velocity (used to predict where it is).
    """

    def __init__(self,
                 gate: float = 0.3,
                 max_missed: int = 10,
                 min_score: float = 0.2,
                 velocity_smoothing: float = 0.5) -> None:
        self.gate = gate
        self.max_missed = max_missed
        self.min_score = min_score
        self.velocity_smoothing = velocity_smoothing
        self.tracks: Dict[int, _Track] = {}
        self.next_id = 0

    def _predict(self,
                 time: float) -> Tuple[List[int], np.ndarray, np.ndarray]:
        ids = list(self.tracks)
        if not ids:
            return ids, np.zeros((0, 0, 2)), np.zeros((0, 0), bool)
        # extrapolate at most a few frames' worth of motion
        pred = np.stack([
            t.keypoints + t.velocity * min(time - t.time, 0.2)
            for t in self.tracks.values()
        ])
        return ids, pred, np.stack([t.valid for t in self.tracks.values()])

    def update(self, keypoints: np.ndarray, scores: np.ndarray,
               time: float) -> Tuple[np.ndarray, List[int]]:
        """Assign this frame's people to tracks.

        Args:
            keypoints (np.ndarray): (D, K, 2) pixels.
            scores (np.ndarray): (D, K) keypoint scores.
            time (float): Frame time, seconds.

        Returns:
            tuple: ids (D, ) of the people, and the ids of tracks that
            ended (unseen for more than ``max_missed`` frames).
        """
        keypoints = np.asarray(keypoints, np.float64)
        valid = np.asarray(scores) >= self.min_score
        ids, pred, pred_valid = self._predict(time)
        out = np.full(len(keypoints), -1, dtype=np.int64)
        if ids and len(keypoints):
            cost = keypoint_cost(pred, pred_valid, keypoints, valid)
            rows, cols = linear_sum_assignment(
                np.where(np.isfinite(cost), cost, 1e9))
            for r, c in zip(rows, cols):
                if cost[r, c] <= self.gate:
                    out[c] = ids[r]
                    self._continue(ids[r], keypoints[c], valid[c], time)
        for c in np.flatnonzero(out < 0):
            out[c] = self._start(keypoints[c], valid[c], time)
        ended = []
        for i in ids:
            if i not in out:
                self.tracks[i].missed += 1
                if self.tracks[i].missed > self.max_missed:
                    ended.append(i)
                    del self.tracks[i]
        return out, ended

    def _start(self, keypoints, valid, time) -> int:
        i = self.next_id
        self.next_id += 1
        self.tracks[i] = _Track(keypoints.copy(), valid.copy(),
                                np.zeros_like(keypoints), time)
        return i

    def _continue(self, i, keypoints, valid, time) -> None:
        t = self.tracks[i]
        both = valid & t.valid
        step = (keypoints - t.keypoints) / max(time - t.time, 1e-6)
        a = self.velocity_smoothing
        t.velocity = np.where(both[:, None], a * step + (1 - a) * t.velocity,
                              t.velocity)
        t.keypoints = np.where(valid[:, None], keypoints, t.keypoints)
        t.valid = t.valid | valid
        t.time, t.missed = time, 0
