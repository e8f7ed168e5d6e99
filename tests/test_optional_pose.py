"""Pose is opt-in: classification works with mmpose and xtcocotools not
importable, and ``selecsls_mm.pose`` then says in one sentence what to
install (issue 9).

Each case runs in a fresh interpreter whose import system refuses the
blocked packages, as on a machine where they were never installed.
"""
import json
import subprocess
import sys
import textwrap

import pytest

from helpers import REPO_ROOT

# Put in front of every script: makes `import mmpose...` and
# `import xtcocotools...` fail as if the packages were not installed.
BLOCKER = textwrap.dedent('''
    import sys
    BLOCKED = {'mmpose', 'xtcocotools'}

    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                raise ModuleNotFoundError(f'No module named {name!r}',
                                          name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
''')


def run_blocked(script: str, timeout: float = 300):
    """Run ``script`` after :data:`BLOCKER` in a new interpreter."""
    return subprocess.run(
        [sys.executable, '-c', BLOCKER + textwrap.dedent(script)],
        cwd=REPO_ROOT,
        text=True,
        capture_output=True,
        timeout=timeout)


def test_imagenet_config_runs_without_mmpose(tmp_path):
    # A real photo (non-square, 427x640) that scikit-learn ships, through the
    # config's own test pipeline, then one test step of the built model.
    from PIL import Image
    from sklearn.datasets import load_sample_image
    image = tmp_path / 'china.jpg'
    Image.fromarray(load_sample_image('china.jpg')).save(image)
    proc = run_blocked(f'''
        import json, sys
        import torch
        from mmengine.config import Config
        from mmengine.dataset import Compose
        from mmengine.registry import DefaultScope, init_default_scope

        import selecsls_mm
        from mmpretrain.registry import MODELS

        cfg = Config.fromfile('configs/selecsls/selecsls42_8xb32_in1k.py')
        init_default_scope(cfg.default_scope)
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
        sample = pipeline(dict(img_path={str(image)!r}))
        with torch.no_grad():
            out = model.test_step(dict(inputs=[sample['inputs']],
                                       data_samples=[sample['data_samples']]))
        score = out[0].pred_score
        loaded = sorted({{m.split('.')[0] for m in sys.modules}}
                        & {{'mmpose', 'xtcocotools'}})
        print(json.dumps(dict(shape=list(sample['inputs'].shape),
                              classes=score.numel(), total=float(score.sum()),
                              label=int(out[0].pred_label), loaded=loaded)))
    ''')
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['shape'] == [3, 224, 224]
    assert result['classes'] == 1000
    assert result['total'] == pytest.approx(1.0, abs=1e-4)  # softmax scores
    assert 0 <= result['label'] < 1000
    assert result['loaded'] == []


def _last_line(stderr: str) -> str:
    return stderr.strip().splitlines()[-1]


def test_pose_import_without_mmpose_says_what_to_install():
    proc = run_blocked('import selecsls_mm.pose')
    assert proc.returncode != 0
    last = _last_line(proc.stderr)
    assert last.startswith('selecsls_mm.stack.MissingDependencyError: '), last
    message = last.split(': ', 1)[1]
    assert 'mmpose and xtcocotools' in message
    assert 'pip install' in message and 'make env-full' in message
    # one sentence
    assert message.count('. ') == 0 and message.endswith('.'), message


def test_pose_config_without_mmpose_is_one_error_line(tmp_path):
    # What a user of tools/train.py sees: load_config (which the tools call)
    # turns mmengine's wrapped custom_imports failure back into our sentence.
    proc = run_blocked('''
        from selecsls_mm.stack import MissingDependencyError, load_config
        try:
            load_config('configs/pose/xnect-paf_selecsls60_8xb32-140e_coco-512x320.py')
        except MissingDependencyError as err:
            print('ERR', err)
        else:
            print('LOADED')
    ''')
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout.strip()
    assert out.startswith(
        'ERR selecsls_mm.pose needs mmpose and xtcocotools'), out
    assert '\n' not in out
