"""The pose configs build, use the right SelecSLS level, load converted
ImageNet weights through init_cfg, and the top-down one changes only the
backbone of mmpose's ResNet-50 config."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs/pose/*.py')))
TOPDOWN = osp.join(REPO,
                   'configs/pose/td-hm_selecsls60_8xb64-210e_coco-256x192.py')
TOPDOWN_BASE = ('mmpose::body_2d_keypoint/topdown_heatmap/coco/'
                'td-hm_res50_8xb64-210e_coco-256x192.py')


def test_there_are_pose_configs():
    names = [osp.basename(c) for c in CONFIGS]
    assert 'xnect-paf_selecsls60_8xb32-140e_coco-512x512.py' in names
    assert 'td-hm_selecsls60_8xb64-210e_coco-256x192.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_and_outputs_the_right_maps(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpose'
    assert 'selecsls_mm.pose' in cfg.custom_imports.imports
    model = MODELS.build(cfg.model).eval()
    input_w, input_h = cfg.codec['input_size']
    with torch.no_grad():
        out = model(torch.rand(1, 3, input_h, input_w), None, mode='tensor')
    heatmap_w, heatmap_h = cfg.codec['heatmap_size']
    if cfg.model.type.endswith('BottomupPoseEstimator'):
        assert cfg.model.backbone.out_indices == (3, )
        assert model.backbone.out_channels[3] == 416
        heatmaps, pafs = out
        # the PAF channels follow the codec's limb set (COCO + redundant)
        num_limbs = len(model.head.decoder.skeleton)
        assert num_limbs == 28
        assert heatmaps.shape == (1, 17, heatmap_h, heatmap_w)
        assert pafs.shape == (1, 2 * num_limbs, heatmap_h, heatmap_w)
        assert model.head.final_layer.out_channels == 17 + 2 * num_limbs
        # the training pipeline flips with the project's transform (mmpose's
        # RandomFlip mirrors non-square inputs by the wrong width)
        flips = [t['type'] for t in cfg.train_pipeline if 'Flip' in t['type']]
        assert flips == ['BottomupRandomFlip']
        # input_size / heatmap_size is the head's stride
        assert input_w // heatmap_w == 8 and input_h // heatmap_h == 8
    else:
        assert out.shape == (1, 17, heatmap_h, heatmap_w)


def test_topdown_config_only_swaps_the_backbone(tmp_path):
    ours = Config.fromfile(TOPDOWN).to_dict()
    # load the base the same way (mmpose:: adds _scope_ to its dicts)
    base_file = tmp_path / 'base.py'
    base_file.write_text(f'_base_ = [{TOPDOWN_BASE!r}]')
    base = Config.fromfile(str(base_file)).to_dict()
    assert ours['model']['head']['in_channels'] == 1024
    assert ours['model']['backbone']['type'] == 'SelecSLS'
    for cfg in (ours, base):
        cfg.pop('custom_imports', None)
        cfg['model'].pop('backbone')
        cfg['model']['head'].pop('in_channels')
    assert ours == base


def test_pretrained_init_loads_converted_imagenet_weights(tmp_path):
    # a converted checkpoint is an mmpretrain ImageClassifier state dict
    from mmengine.registry import MODELS as ROOT_MODELS
    classifier_backbone = ROOT_MODELS.build(dict(type='SelecSLS', arch='60'))
    state = {
        f'backbone.{k}': v + 0.5  # distinguishable from any init
        for k, v in classifier_backbone.state_dict().items()
    }
    state['head.fc.weight'] = torch.zeros(1000, 1280)
    ckpt = str(tmp_path / 'selecsls60_in1k.pth')
    torch.save(dict(state_dict=state, meta=dict()), ckpt)

    for path in CONFIGS:
        cfg = Config.fromfile(path)
        init = cfg.model.backbone.init_cfg
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
        init.checkpoint = ckpt
        model = MODELS.build(cfg.model)
        model.init_weights()
        loaded = model.backbone.state_dict()
        for key, value in loaded.items():
            if value.dtype.is_floating_point:
                torch.testing.assert_close(value, state[f'backbone.{key}'])


@pytest.mark.slow
def test_topdown_config_without_coco_is_one_line(tmp_path):
    """No COCO under the config's data_root: one line naming the path the
    config expects and how to point it elsewhere, no AssertionError."""
    import subprocess
    import sys
    checkpoint = tmp_path / 'x.pth'
    checkpoint.write_bytes(b'')  # never read: the data check comes first

    def test_tool(*options):
        proc = subprocess.run([
            sys.executable,
            osp.join(REPO, 'tools', 'test.py'), TOPDOWN,
            str(checkpoint), *options
        ],
                              cwd=tmp_path,
                              text=True,
                              capture_output=True,
                              timeout=300)
        assert proc.returncode == 1
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, proc.stderr[-2000:]
        return lines[0]

    how = ('put the dataset there, or point the config at it with '
           '--cfg-options data_root=/path/to/dataset/')
    line = test_tool()
    assert line.startswith(
        'error: data/coco/ does not exist: the config expects it as '
        "test_dataloader.dataset.data_root (data_root 'data/coco/'); " + how)
    # data_root=PATH moves the dataset and the evaluator's annotation file
    coco = tmp_path / 'coco'
    coco.mkdir()
    line = test_tool('--cfg-options', f'data_root={coco}/')
    assert line.startswith(
        f'error: {coco}/annotations/person_keypoints_val2017.json does not '
        'exist: the config expects it as test_dataloader.dataset.ann_file')
