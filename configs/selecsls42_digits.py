# SelecSLS-42 up to stride 16 (no head convs) on scikit-learn's handwritten
# digits, 32x32, as written by tools/digits_demo.py: a CPU-sized demo of the
# ImageNet recipe that reaches >= 90% top-1 in a few minutes.
_base_ = ['./_base_/selecsls_imagenet.py']

num_classes = 10
model = dict(
    # At 32 px stride 16 is 2x2 already; the head convs add only cost.
    backbone=dict(arch='42', out_indices=(3, )),
    head=dict(num_classes=num_classes, in_channels=480, topk=(1, )))
# Digits are white on black; centre them around 0 with unit spread.
data_preprocessor = dict(
    num_classes=num_classes, mean=[64.0] * 3, std=[96.0] * 3, to_rgb=False)

data_root = 'data/digits'
metainfo = dict(classes=tuple(str(d) for d in range(num_classes)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    # Small shifts; no flips, which would turn digits into other glyphs.
    dict(type='RandomCrop', crop_size=32, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 6
# _delete_ drops the base's per-parameter weight-decay rules (and their log
# line per BN parameter); at this size they make no difference.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True))
param_scheduler = [
    # Warm-up over the first iterations, then cosine over all epochs.
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=False)
