# XNect's real-time setting: 512x320 (landscape) input, 64x40 maps. Test
# images are fitted into a fixed 512x320 frame (padding the rest), so every
# forward has the same shape, as in a video stream.
_base_ = ['./xnect-paf_selecsls60_8xb32-140e_coco-512x512.py']

codec = dict(
    type='PartAffinityField',
    input_size=(512, 320),
    heatmap_size=(64, 40),
    sigma=2,
    paf_width=1,
    # COCO's 19 links + 9 redundant limbs (see limb_sets.py): the head's
    # PAF channels (2 per limb) follow from this set
    skeleton=dict(
        from_file='configs/_base_/datasets/coco.py', limbs='coco_redundant'),
    decode_max_instances=30)

model = dict(head=dict(decoder=codec))

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
        size_factor=16,
        resize_mode='fit'),
    dict(
        type='PackPAFInputs',
        # no 'category_id': bottom-up samples hold one per person, and
        # CocoMetric needs a single id per image (as mmpose's DEKR configs)
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links')),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
