# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Valid-region mask of bottom-up training images, rasterised in numpy."""
from typing import Tuple

import numpy as np
import xtcocotools.mask as cocomask
from mmpose.datasets.transforms import BottomupGetHeatmapMask
from mmpose.registry import TRANSFORMS


def rle_string_to_counts(counts: bytes) -> np.ndarray:
    """Decode COCO's compressed RLE string into run lengths.

    Each count is a little-endian sequence of 5-bit groups stored as
    ``chr(48 + group)``, bit 0x20 meaning "more groups follow" and bit 0x10
    of the last group the sign; from the third count on, values are stored
    as differences to the count two places before.
    """
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    values = []
    p = 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = counts[p] - 48
            x |= (c & 0x1f) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(values) > 2:
            x += values[-2]
        values.append(x)
    return np.asarray(values, dtype=np.int64)


def rle_to_mask(rle: dict) -> np.ndarray:
    """Binary (h, w) uint8 mask of a COCO RLE (compressed or not)."""
    h, w = rle['size']
    counts = rle['counts']
    counts = np.asarray(
        counts, dtype=np.int64) if isinstance(
            counts, list) else rle_string_to_counts(counts)
    if counts.sum() != h * w:
        raise ValueError(f'RLE counts sum to {counts.sum()}, expected the '
                         f'{h}x{w} = {h * w} pixels given by its size.')
    # runs alternate 0, 1, 0, ... over the pixels in column-major order
    values = np.arange(len(counts)) % 2
    return np.repeat(values.astype(np.uint8), counts).reshape((h, w),
                                                              order='F')


@TRANSFORMS.register_module()
class NumpyBottomupGetHeatmapMask(BottomupGetHeatmapMask):
    """mmpose's ``BottomupGetHeatmapMask`` (the mask that makes bottom-up
    losses ignore crowd regions and people without keypoint labels), with
    the segmentations rasterised in numpy.

    ``xtcocotools.mask.decode`` fails under numpy 2 (it reads
    ``np.NPY_OWNDATA``, which numpy 2 removed), so the merged RLE is decoded
    here instead; everything else (warp, flip, resize to the heatmap size)
    is mmpose's. Segmentations that are ``None`` (an unannotated person
    without a mask) are skipped rather than crashing.

    Required and added keys are those of ``BottomupGetHeatmapMask``.
    """

    def _segs_to_mask(self, segs: list, img_shape: Tuple[int,
                                                         int]) -> np.ndarray:
        h, w = img_shape[:2]
        rles = []
        for seg in segs:
            if seg is None or (isinstance(seg, list) and not seg):
                continue
            rle = cocomask.frPyObjects(seg, h, w)
            rles.extend(rle if isinstance(rle, list) else [rle])
        if not rles:
            return np.zeros((h, w), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.uint8)
        for rle in rles:
            mask |= rle_to_mask(rle)
        return mask
