# XNect Stage I 2D branch (keypoint heatmaps + part affinity fields) on a
# SelecSLS60 backbone, bottom-up on COCO keypoints. Trained at 512x512 with
# the 140-epoch schedule of mmpose's bottom-up DEKR configs. XNect's
# real-time input (512x320):
# `xnect-paf_selecsls60_8xb32-140e_coco-512x320.py`.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['selecsls_mm.pose'], allow_failed_imports=False)

# runtime
train_cfg = dict(max_epochs=140, val_interval=10)

# optimizer
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1.5e-3))

# learning policy
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=140,
        milestones=[90, 120],
        gamma=0.1,
        by_epoch=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=256)

# hooks
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))

# codec settings: maps at stride 8 of the input
codec = dict(
    type='PartAffinityField',
    input_size=(512, 512),
    heatmap_size=(64, 64),
    sigma=2,
    paf_width=1,
    # COCO's 19 links + 9 redundant limbs (see limb_sets.py): the head's
    # PAF channels (2 per limb) follow from this set
    skeleton=dict(
        from_file='configs/_base_/datasets/coco.py', limbs='coco_redundant'),
    decode_max_instances=30)

# model settings
model = dict(
    # BottomupPoseEstimator with boxes mapped to the original image
    type='PAFBottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='SelecSLS',
        arch='60',
        out_indices=(3, ),  # stride 16, 416 channels
        init_cfg=dict(
            type='Pretrained',
            # python tools/convert_weights.py SelecSLS60_statedict.pth \
            #     checkpoints/selecsls60_original_in1k.pth
            checkpoint='checkpoints/selecsls60_original_in1k.pth',
            prefix='backbone.')),
    head=dict(
        type='XNectPAFHead',
        in_channels=416,
        num_keypoints=17,
        reduce_channels=256,
        deconv_channels=192,
        conv_channels=(128, 96),
        heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        paf_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(
        multiscale_test=False,
        flip_test=True,
        shift_heatmap=True,
        align_corners=False))

# base dataset settings
dataset_type = 'CocoDataset'
data_mode = 'bottomup'
data_root = 'data/coco/'

# pipelines
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupRandomAffine', input_size=codec['input_size']),
    # mirrors by the flipped image's own size (mmpose's RandomFlip uses
    # input_size as (h, w): wrong for non-square inputs)
    dict(type='BottomupRandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='NumpyBottomupGetHeatmapMask'),
    dict(type='PackPAFInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=codec['input_size'],
        size_factor=16,  # the backbone's stride
        resize_mode='expand'),
    dict(
        type='PackPAFInputs',
        # no 'category_id': bottom-up samples hold one per person, and
        # CocoMetric needs a single id per image (as mmpose's DEKR configs)
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links')),
]

# data loaders
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json',
    nms_mode='none',
    score_mode='bbox_keypoint',
)
test_evaluator = val_evaluator
