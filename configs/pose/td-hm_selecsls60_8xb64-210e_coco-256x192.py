# mmpose's SimpleBaseline (ResNet-50, 256x192, 210 epochs) with SelecSLS60 as
# the backbone. Only the backbone changes: SelecSLS60 up to its stride-32
# level (the first head convs, 1024 channels) matches ResNet-50's last stage
# (stride 32), so the head's three deconvs still give 64x48 heatmaps.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-256x192.py'
]

custom_imports = dict(imports=['selecsls_mm.pose'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='SelecSLS',
        arch='60',
        out_indices=(4, ),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/selecsls60_original_in1k.pth',
            prefix='backbone.')),
    head=dict(in_channels=1024))
