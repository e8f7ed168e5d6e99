# The 2D-only lifter: XNect Stage II's network, data and schedule with the
# 3D reads zeroed (same feature layout, same size): what the 2D keypoints
# and confidences alone give. Stage II must beat it.
#   python tools/train.py configs/pose3d/xnect-stage2_mlp-2donly_motion.py
_base_ = ['./xnect-stage2_mlp_motion.py']

model = dict(codec=dict(use_3d=False))
