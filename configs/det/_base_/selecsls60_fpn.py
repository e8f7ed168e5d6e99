# SelecSLS-60 in place of mmdet's ResNet-50 under an FPN: the same four
# levels (strides 4, 8, 16, 32; SelecSLS levels 1-4, see docs/backbone.md),
# the same freezing (stem + first stage, BN in eval mode), ImageNet weights
# from a converted checkpoint; only the FPN's input channels change.
# Create the checkpoint first (docs/conversion.md), e.g.:
#   python tools/model_converters/convert_weights.py \
#       selecsls60.in1k/model.safetensors checkpoints/selecsls60_timm_in1k.pth
custom_imports = dict(imports=['selecsls_mm'], allow_failed_imports=False)

selecsls60_fpn = dict(
    backbone=dict(
        _delete_=True,
        type='SelecSLS',
        arch='60',
        out_indices=(1, 2, 3, 4),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/selecsls60_timm_in1k.pth',
            prefix='backbone.')),
    neck=dict(in_channels=[128, 288, 416, 1024]))
