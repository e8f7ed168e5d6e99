# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Horizontal/vertical flip that mirrors by the size of the flipped image."""
from mmpose.datasets.transforms import RandomFlip
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BottomupRandomFlip(RandomFlip):
    """mmpose's ``RandomFlip`` (image, ``img_mask``, boxes, keypoints and
    left/right labels) that mirrors coordinates by the size of the image it
    flips.

    mmpose's ``RandomFlip`` (1.1 to at least 1.3) reads the image size as
    ``h, w = results.get('input_size', results['img_shape'])``, but
    ``BottomupRandomAffine`` stores ``input_size`` as (w, h): for a
    non-square input such as XNect's 512x320, every flipped sample gets its
    keypoints mirrored as if the image were 320 wide, i.e. 192 px off. This
    transform flips with the shape of ``results['img']`` instead, so it is
    right for any input shape and also when no ``input_size`` is set.

    Args:
        prob (float | list[float]): Flip probability, as ``RandomFlip``.
            Defaults to 0.5.
        direction (str | list[str]): ``'horizontal'``, ``'vertical'`` or
            ``'diagonal'``, as ``RandomFlip``. Defaults to ``'horizontal'``.
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        img = img[0] if isinstance(img, list) else img
        # RandomFlip takes its (h, w) from `input_size` when present and
        # from `img_shape` otherwise: hide the former and give it the true
        # shape of the image it flips.
        input_size = results.pop('input_size', None)
        img_shape = results.get('img_shape')
        results['img_shape'] = tuple(img.shape[:2])
        try:
            results = super().transform(results)
        finally:
            if input_size is not None:
                results['input_size'] = input_size
            if img_shape is not None:
                results['img_shape'] = img_shape
        return results
