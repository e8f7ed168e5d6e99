# mmdet's Faster R-CNN R-50-FPN 1x COCO with SelecSLS-60 as the backbone.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/selecsls60_fpn.py',
]
model = _base_.selecsls60_fpn
