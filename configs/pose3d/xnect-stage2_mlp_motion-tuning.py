# Stage II's tuning split: how its data settings are chosen without looking
# at the held-out clips. It trains on 8 of the 11 training clips and
# validates on the other 3 (a dance, a kick, a walk: motion the 8 do not
# hold, as the held-out clips are to all 11), on a shorter schedule
# (10 epochs x 20000 people). Compare settings with --cfg-options, e.g.
#   OMP_NUM_THREADS=1 python tools/train.py \
#       configs/pose3d/xnect-stage2_mlp_motion-tuning.py \
#       --cfg-options train_dataloader.dataset.limb_mix_prob=0.5 \
#       --work-dir work_dirs/tuning_mix0.5
# and read the last validation (MPJPE on the 3 clips) of each run.
_base_ = ['./xnect-stage2_mlp_motion.py']

tuning_clips = ['dance_a', 'spinkick', 'walk']
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_dataloader = dict(
    dataset=dict(
        num_samples=20000,
        clips=[
            'backflip', 'cartwheel', 'crawl', 'getup_facedown', 'getup_faceup',
            'roll', 'run', 'spin'
        ]))
# the training split's cameras too: only the clips are new
val_dataloader = dict(
    dataset=dict(split='train', clips=tuning_clips, num_samples=3000, seed=1))
test_dataloader = val_dataloader
