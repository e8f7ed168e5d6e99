# Multi-person 3D data, bottom-up: MuCo-3DHP mixed with COCO to train,
# MuPoTS-3D to test, in the 3DMPPE project's COCO-style JSON (see
# docs/pose3d.md for the files and where they come from). COCO images train
# the 2D branch: Add3DPlaceholders gives them the 3D keys with no 3D label.
# A config inheriting this sets each dataset's pipeline (the sub-datasets'
# own pipelines run first, then CombinedDataset's).
custom_imports = dict(
    imports=['selecsls_mm.pose3d'], allow_failed_imports=False)

joint_set = 'coco21'
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
    pipeline=[dict(type='Add3DPlaceholders', joint_set=joint_set)])
mupots_test = dict(
    type='MuPoTS3DDataset',
    data_root='data/MuPoTS/data/',
    ann_file='MuPoTS-3D.json',
    data_prefix=dict(img='MultiPersonTestSet/'),
    data_mode=data_mode,
    joint_set=joint_set,
    test_mode=True,
    pipeline=[])

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='CombinedDataset',
        metainfo=coco_metainfo,
        datasets=[muco_train, coco_train],
        pipeline=[]))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=mupots_test)
test_dataloader = val_dataloader

val_evaluator = dict(
    type='MultiPerson3DMetric',
    joint_set=joint_set,
    eval_joints=mupots_eval_joints)
test_evaluator = val_evaluator
