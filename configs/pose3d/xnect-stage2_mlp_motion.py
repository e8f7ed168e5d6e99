# XNect Stage II: a per-person MLP (160-256-256-128, BN + ReLU) lifting
# Stage I's read-out (2D keypoints, confidences, 3D-map reads) to a full
# root-relative 3D pose. Trained on real motion (the DeepMimic training
# clips, training cameras) with a simulated Stage I read-out: 30% of the
# keypoints missing (whole limbs, frame cuts, single drops), 2D noise, read
# noise and outlier reads. Tested on the held-out clips and cameras.
# CPU, about 17 minutes on two cores (one torch thread per process: the
# network is small, a second thread only waits):
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/pose3d/xnect-stage2_mlp_motion.py
#   python tools/test.py configs/pose3d/xnect-stage2_mlp_motion.py \
#       work_dirs/xnect-stage2_mlp_motion/epoch_30.pth
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(
    imports=['selecsls_mm.pose3d.lifting'], allow_failed_imports=False)

joint_set = 'coco21'
codec = dict(
    type='XNectLiftingFeatures',
    joint_set=joint_set,
    read_channels='supervised',
    use_3d=True)

# What Stage I reads (selecsls_mm/pose3d/lifting/simulate.py).
# readout_error_mm is a guess until Stage I's read-out error is measured on
# held-out scenes: set it to that figure (mean 3D error of one read, mm).
readout = dict(
    missing_share=0.3,
    limb_share=0.5,
    readout_error_mm=70.,
    readout_correlation=0.5,
    outlier_prob=0.05,
    keypoint_noise=0.02)

model = dict(
    type='XNectLifter',
    codec=codec,
    hidden_dims=(160, 256, 256, 128),
    loss_joints=dict(type='MPJPELoss', loss_weight=1.),
    loss_bones=dict(type='MPJPELoss', loss_weight=1.),
    # lift each person and its mirror image, average the two (the training
    # people are mirrored at random too): 1.4 mm less MPJPE on the
    # held-out set (docs/pose3d.md)
    test_cfg=dict(flip_test=True))

max_epochs = 30
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
# no `save_best`: the validation clips are the held-out ones, never used
# to pick a checkpoint; the last epoch is the result
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=20))
randomness = dict(seed=0)

# the model encodes the features itself (its codec), a batch at a time
pipeline = [dict(type='PackLiftingInputs')]
train_dataloader = dict(
    batch_size=256,
    # the people are made on the fly: two processes make them while the
    # network trains. Persistent, or mmengine would seed every epoch's new
    # workers alike and draw the same people again. default_collate stacks
    # a batch in the worker: one shared-memory tensor per field instead of
    # one per person (which made a worker 3x slower)
    num_workers=2,
    persistent_workers=True,
    collate_fn=dict(type='default_collate'),
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='MotionLiftingDataset',
        split='train',
        # fresh people every epoch; more people keep helping (docs/pose3d.md:
        # 30 x 60000 gave 65 mm on the held-out set, 30 x 30000 72 mm)
        num_samples=60000,
        joint_set=joint_set,
        # every joint turned by ~45 degrees at random: new poses around
        # the ~1000 training frames (chosen on training clips held out
        # from training, see docs/pose3d.md)
        joint_jitter_deg=45.,
        readout=readout,
        pipeline=pipeline))
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='MotionLiftingDataset',
        split='held_out',
        num_samples=5000,
        joint_set=joint_set,
        readout=readout,
        seed=0,
        test_mode=True,
        pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Lifting3DMetric', readout=True)
test_evaluator = val_evaluator
