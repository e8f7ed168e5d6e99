# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""selecsls_mm.utils: the one copy of each shared helper."""
import os

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from selecsls_mm.utils import (TensorModeWrapper, atomic_output, build_model,
                               complexity, count_macs, count_params,
                               error_line, max_rel_diff, run_main)


def test_atomic_output_replaces_only_on_success(tmp_path):
    path = tmp_path / 'sub' / 'out.pth'
    with atomic_output(str(path)) as tmp:
        assert tmp.endswith('.pth') and os.path.dirname(tmp) == str(
            path.parent)
        with open(tmp, 'w') as f:
            f.write('first')
    assert path.read_text() == 'first'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() gives
    path.chmod(0o640)

    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_output(str(path)) as tmp:
            with open(tmp, 'w') as f:
                f.write('half of the sec')  # a writer that dies mid-way
            raise RuntimeError('disk full')
    assert path.read_text() == 'first'
    assert os.listdir(path.parent) == ['out.pth']  # no temp file left
    with atomic_output(str(path)) as tmp:
        with open(tmp, 'w') as f:
            f.write('second')
    assert path.read_text() == 'second'
    assert path.stat().st_mode & 0o777 == 0o640  # kept from the old file


def test_count_macs_by_hand():
    # Conv 3->8, 3x3, padding 1 on 10x12: 8*10*12 outputs x 27 MACs each;
    # Linear 8->5 after pooling: 40 MACs; a transposed conv 8->4, 2x2
    # stride 2 on 10x12: every input pixel feeds 4*2*2 outputs with 8 MACs.
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    x = torch.randn(2, 3, 10, 12)
    assert count_macs(model, x) == 8 * 10 * 12 * 27
    head = nn.Sequential(model, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 5))
    assert count_macs(head, x) == 8 * 10 * 12 * 27 + 8 * 5
    up = nn.Sequential(model, nn.ConvTranspose2d(8, 4, 2, stride=2))
    assert count_macs(up, x) == 8 * 10 * 12 * 27 + 10 * 12 * 8 * 4 * 2 * 2
    params, macs = complexity(head.train(), (10, 12))
    assert params == count_params(head) == 3 * 8 * 9 + 8 + 16 + 8 * 5 + 5
    assert macs == 8 * 10 * 12 * 27 + 40 and head.training


def test_max_rel_diff():
    ref = torch.tensor([[2.0, -4.0], [1.0, 0.0]])
    assert max_rel_diff(ref, ref) == 0
    assert max_rel_diff(ref, ref + 0.4) == pytest.approx(0.1)
    # the worst of several outputs, each relative to its own scale
    assert max_rel_diff([ref, ref * 10], [ref + 0.04, ref * 10 + 2]) == \
        pytest.approx(0.05)
    assert max_rel_diff(ref, [ref - 0.8]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match='shapes differ'):
        max_rel_diff(ref, ref[0])
    with pytest.raises(ValueError, match='2 reference outputs but 1'):
        max_rel_diff([ref, ref], [ref])


CLASSIFIER = dict(
    type='ImageClassifier',
    backbone=dict(type='SelecSLS', arch='42', out_indices=(1, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=128))


def test_build_model_and_tensor_mode():
    before = DefaultScope.get_current_instance()
    model = build_model(Config(dict(model=CLASSIFIER))).eval()
    assert DefaultScope.get_current_instance() is before  # nothing leaked
    x = torch.randn(2, 3, 40, 36)
    logits = TensorModeWrapper(model)(x)
    assert logits.shape == (2, 3)
    torch.testing.assert_close(
        logits, model.head.fc(model.neck(model.backbone(x))[-1]))
    backbone = model.backbone
    assert TensorModeWrapper(backbone)(x)[0].shape == (2, 128, 10, 9)
    with pytest.raises(KeyError, match='NoSuchBackbone'):
        build_model(
            Config(
                dict(
                    model=dict(
                        CLASSIFIER, backbone=dict(type='NoSuchBackbone')))))
    with pytest.raises(ValueError, match='no `model`'):
        build_model(Config(dict(optimizer=dict())))


def test_run_main_exit_codes(capsys):
    assert run_main(lambda: None) == 0
    assert run_main(lambda args, extra: args + extra, 1, 2) == 3

    def bad_input(args):
        raise FileNotFoundError('checkpoint x.pth does not exist\n(detail)')

    assert run_main(bad_input, None) == 1
    assert capsys.readouterr().err == \
        'error: checkpoint x.pth does not exist (detail)\n'
    assert error_line(KeyError('Foo is not in the model registry')) == \
        'error: Foo is not in the model registry'

    def bug(args):
        raise ZeroDivisionError('a bug keeps its traceback')

    with pytest.raises(ZeroDivisionError):
        run_main(bug, None)


def test_run_main_error_without_message_and_traceback_on_request(
        monkeypatch, capsys):
    """An error without a message is named by its type;
    SELECSLS_MM_TRACEBACK=1 lets a user error propagate with its traceback
    (for a bug report) instead of the one line."""
    assert error_line(ValueError()) == 'error: ValueError'
    assert error_line(KeyError()) == 'error: KeyError'

    def bad_input(argv):
        raise ValueError('wrong shape')

    monkeypatch.setenv('SELECSLS_MM_TRACEBACK', '1')
    with pytest.raises(ValueError, match='wrong shape'):
        run_main(bad_input, None)
    monkeypatch.setenv('SELECSLS_MM_TRACEBACK', '')
    assert run_main(bad_input, None) == 1
    assert capsys.readouterr().err == 'error: wrong shape\n'


def test_atomic_directory_appears_whole_or_not_at_all(tmp_path):
    from selecsls_mm.utils import atomic_directory
    path = tmp_path / 'data'
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_directory(str(path)) as tmp:
            (tmp_path / os.path.basename(tmp) / 'a.png').write_bytes(b'x')
            raise RuntimeError('interrupted')
    assert os.listdir(tmp_path) == []
    with atomic_directory(str(path)) as tmp:
        (tmp_path / os.path.basename(tmp) / 'a.png').write_bytes(b'x')
        assert not path.exists()
    assert os.listdir(tmp_path) == ['data'] and os.listdir(path) == ['a.png']


def test_models_do_not_import_deploy_or_tools():
    """The model layer stands alone: nothing under selecsls_mm/models
    imports selecsls_mm.deploy (pruning, export) or the benchmark."""
    import ast

    import selecsls_mm.models as models
    root = os.path.dirname(models.__file__)
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(folder, name)
            package = 'selecsls_mm.' + os.path.relpath(
                folder, os.path.dirname(root)).replace(os.sep, '.')
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    base = package.split('.')
                    if node.level:
                        base = base[:len(base) - node.level + 1]
                        target = '.'.join(base + [node.module or ''])
                    else:
                        target = node.module
                    targets = [target]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                found += [(name, t) for t in targets
                          if t.startswith(('selecsls_mm.deploy',
                                           'selecsls_mm.benchmark'))]
    assert found == []


def test_data_root_option_moves_every_path_under_the_root():
    """As mmpose's COCO configs spell it: data_root into each dataset and
    into the evaluator's ann_file; other paths stay."""
    from selecsls_mm.utils import merge_cfg_options
    root = 'data/coco/'
    cfg = Config(
        dict(
            data_root=root,
            train_dataloader=dict(
                dataset=dict(
                    data_root=root,
                    ann_file='annotations/train.json',
                    data_prefix=dict(img='train2017/'))),
            val_dataloader=dict(dataset=dict(data_root='data/coco')),
            val_evaluator=dict(ann_file=root + 'annotations/val.json'),
            load_from='data/coconut/x.pth'))
    merge_cfg_options(cfg, {'data_root': '/mnt/coco'})
    assert cfg.data_root == '/mnt/coco'
    assert cfg.train_dataloader.dataset.data_root == '/mnt/coco'
    assert cfg.train_dataloader.dataset.ann_file == 'annotations/train.json'
    assert cfg.val_dataloader.dataset.data_root == '/mnt/coco'
    assert cfg.val_evaluator.ann_file == '/mnt/coco/annotations/val.json'
    assert cfg.load_from == 'data/coconut/x.pth'  # not under the root


def test_missing_data_path_names_the_first_one(tmp_path):
    from selecsls_mm.utils.data_paths import missing_data_path
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'val.json').write_text('{}')
    dataset = dict(
        data_root=str(tmp_path),
        ann_file='annotations/val.json',
        data_prefix=dict(img='val2017/'))
    cfg = Config(
        dict(
            test_dataloader=dict(dataset=dataset),
            test_evaluator=dict(ann_file=str(tmp_path / 'other.json'))))
    assert missing_data_path(
        cfg,
        ('test_dataloader', )) == ('test_dataloader.dataset.data_prefix.img',
                                   f'{tmp_path}/val2017/')
    (tmp_path / 'val2017').mkdir()
    assert missing_data_path(cfg, ('test_dataloader', )) is None
    assert missing_data_path(
        cfg, ('test_dataloader', ),
        ('test_evaluator', )) == ('test_evaluator.ann_file',
                                  str(tmp_path / 'other.json'))


def test_cfg_options_are_parsed_as_mmengine_does():
    from selecsls_mm.utils import cfg_options_dict
    assert cfg_options_dict(None) == {}
    assert cfg_options_dict([
        'train_dataloader.batch_size=8', 'model.backbone.out_indices=(3,)',
        'data_root=/d', 'resume=False', 'x=[1,2]', 'load_from=None'
    ]) == {
        'train_dataloader.batch_size': 8,
        'model.backbone.out_indices': (3, ),
        'data_root': '/d',
        'resume': False,
        'x': [1, 2],
        'load_from': None
    }
    # the first '=' splits: a value may hold more
    assert cfg_options_dict(['work_dir=/runs/lr=0.1']) == {
        'work_dir': '/runs/lr=0.1'
    }
    with pytest.raises(ValueError) as err:
        cfg_options_dict(['batch_size'])
    assert str(err.value) == (
        "--cfg-options 'batch_size': give KEY=VALUE pairs, e.g. "
        'train_dataloader.batch_size=8 or key="[a,b]"')
