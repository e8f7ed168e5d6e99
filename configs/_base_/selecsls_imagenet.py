# What every SelecSLS ImageNet config shares: ImageClassifier on ImageNet-1k
# (mmpretrain's layout), the evaluation pipeline the released weights were
# measured with, and a from-scratch SGD + cosine schedule for 8x32 images.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_bicubic.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['selecsls_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='SelecSLS', arch='60', out_indices=(5, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1280,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, loss_weight=1.0),
        topk=(1, 5),
    ))

# Decode and resize with PIL as timm does for these weights: the short edge
# to 256 (= 224 / crop_pct 0.875) bicubic, then the central 224x224.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# CheckedImageNet: mmpretrain's ImageNet whose format errors name file+line.
train_dataloader = dict(
    dataset=dict(type='CheckedImageNet', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CheckedImageNet', pipeline=test_pipeline))
test_dataloader = val_dataloader

# SGD with momentum, no weight decay on BN, 5 warm-up epochs then cosine.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=95, by_epoch=True, begin=5, end=100),
]
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=1)
# lr 0.1 is for 256 images per step (8 GPUs x 32); --auto-scale-lr rescales.
auto_scale_lr = dict(base_batch_size=256)
