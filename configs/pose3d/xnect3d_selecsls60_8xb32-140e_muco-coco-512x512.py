# XNect Stage I in 2D and 3D at 512x512 (images fitted into the square);
# everything else as the 512x320 config it inherits.
_base_ = ['./xnect3d_selecsls60_8xb32-140e_muco-coco-512x320.py']

codec = dict(
    type='PartAffinityField3D',
    input_size=(512, 512),
    heatmap_size=(64, 64),
    sigma=2,
    paf_width=1,
    skeleton=dict(
        from_file='configs/_base_/datasets/coco.py', limbs='coco_redundant'),
    joint_set='coco21',
    radius_3d=2,
    decode_max_instances=30)

model = dict(head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine3D',
        input_size=codec['input_size'],
        joint_set='coco21'),
    dict(
        type='BottomupRandomFlip3D',
        direction='horizontal',
        joint_set='coco21'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='NumpyBottomupGetHeatmapMask'),
    dict(type='PackXNect3DInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=codec['input_size'],
        size_factor=16,
        resize_mode='expand'),
    dict(
        type='PackXNect3DInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links', 'camera_param')),
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
