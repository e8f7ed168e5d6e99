"""The demo's picture: the 2D drawing beside a legible 3D view."""
from types import SimpleNamespace

import numpy as np
import pytest

from selecsls_mm.pose3d.visualization import draw_2d, draw_frame


@pytest.mark.parametrize('height, width', [(128, 192), (480, 640)])
def test_3d_view_is_never_smaller_than_its_minimum(height, width):
    rng = np.random.default_rng(0)
    joints = rng.normal(0, 300, (21, 3)) + [0, 0, 4000]
    fits = [
        SimpleNamespace(
            track_id=1,
            joints_camera=joints,
            keypoints=rng.uniform(0, 100, (17, 2)),
            keypoint_scores=np.ones(17))
    ]
    image = np.full((height, width, 3), 90, np.uint8)
    out = draw_frame(image, fits, 'coco21', min_view=320)
    size = max(height, 320)
    assert out.shape == (size, width + size, 3)
    # the image drawn at the top left, padded below in black
    np.testing.assert_array_equal(out[:height, :width], draw_2d(image, fits))
    assert not out[height:, :width].any()
    # the view holds the skeleton (not a blank canvas)
    view = out[:, width:].astype(int)
    assert (np.abs(view - view[0, 0]).sum(-1) > 100).mean() > 0.01
