# XNect Stage I in 2D and 3D: keypoint heatmaps, part affinity fields and
# root-relative 3D pose maps on a SelecSLS60 backbone, at XNect's real-time
# input (512x320). Trained on MuCo-3DHP mixed with COCO (COCO images train
# the 2D branch only), tested on MuPoTS-3D, as XNect; the 3DMPPE project's
# COCO-style JSON files (docs/pose3d.md says where to get them). 512x512:
# `xnect3d_selecsls60_8xb32-140e_muco-coco-512x512.py`.
_base_ = ['../pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py']

custom_imports = dict(
    imports=['selecsls_mm.pose3d'], allow_failed_imports=False)

# the 3D joints: COCO's 17 keypoints + pelvis (root), spine, neck, head top
joint_set = 'coco21'

codec = dict(
    type='PartAffinityField3D',
    input_size=(512, 320),
    heatmap_size=(64, 40),
    sigma=2,
    paf_width=1,
    skeleton=dict(
        from_file='configs/_base_/datasets/coco.py', limbs='coco_redundant'),
    joint_set=joint_set,
    radius_3d=2,
    decode_max_instances=30)

model = dict(
    head=dict(
        type='XNect3DHead',
        reduce_channels_3d=256,
        deconv_channels_3d=192,
        conv_channels_3d=160,
        fuse_channels_3d=(160, 128),
        loss_3d=dict(type='MaskedMapLoss', loss_weight=1.),
        decoder=codec))

default_hooks = dict(
    checkpoint=dict(save_best='pose3d/pck3d_all', rule='greater'))

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine3D',
        input_size=codec['input_size'],
        joint_set=joint_set),
    dict(
        type='BottomupRandomFlip3D',
        direction='horizontal',
        joint_set=joint_set),
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
        resize_mode='fit'),
    dict(
        type='PackXNect3DInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links', 'camera_param')),
]

# data: MuCo-3DHP + COCO to train, MuPoTS-3D to test
data_mode = 'bottomup'
coco_metainfo = dict(from_file='configs/_base_/datasets/coco.py')
# MuPoTS-3D's evaluation joints (its 17 less pelvis, spine and head)
mupots_eval_joints = [
    'head_top', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist',
    'left_shoulder', 'left_elbow', 'left_wrist', 'right_hip', 'right_knee',
    'right_ankle', 'left_hip', 'left_knee', 'left_ankle'
]
muco_train = dict(
    type='MuCo3DHPDataset',
    data_root='data/MuCo/data/',
    ann_file='MuCo-3DHP.json',
    data_prefix=dict(img=''),
    data_mode=data_mode,
    joint_set=joint_set,
    pipeline=[])
coco_train = dict(
    type='CocoDataset',
    data_root='data/coco/',
    ann_file='annotations/person_keypoints_train2017.json',
    data_prefix=dict(img='train2017/'),
    data_mode=data_mode,
    # COCO has no 3D labels: their keys, empty, so batches collate
    pipeline=[dict(type='Add3DPlaceholders', joint_set=joint_set)])
mupots_test = dict(
    type='MuPoTS3DDataset',
    data_root='data/MuPoTS/data/',
    ann_file='MuPoTS-3D.json',
    data_prefix=dict(img='MultiPersonTestSet/'),
    data_mode=data_mode,
    joint_set=joint_set,
    test_mode=True,
    pipeline=val_pipeline)

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=coco_metainfo,
        datasets=[muco_train, coco_train],
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(_delete_=True, **mupots_test))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='MultiPerson3DMetric',
    joint_set=joint_set,
    eval_joints=mupots_eval_joints)
test_evaluator = val_evaluator
