"""``tools/benchmark.py --pose3d``: XNect in 3D stage by stage. The numbers
each table prints come from the timed rows (tiny sizes, one iteration: the
speed itself is the benchmark's job, not the tests')."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

pytest.importorskip('mmpose')

from selecsls_mm.benchmark import BenchmarkSettings, pose3d, report  # noqa
from helpers import randomize_bn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sleeper(ms):
    return lambda: time.sleep(ms / 1e3)


def test_stage1_ratio_is_3d_over_2d_per_form():

    def net(ms, diff, macs):
        return dict(run=sleeper(ms), max_rel_diff=diff, folding='-', macs=macs)

    networks = {
        ('2d', 'eager'): net(10, 0., 100),
        ('3d', 'eager'): net(25, 0., 120),
        ('2d', 'int8'): net(20, .1, 100),
        ('3d', 'int8'): net(10, .1, 120),
        ('3d', 'folded'): net(1, 0., 120),
    }
    result = pose3d.time_stage1(networks, iters=3, warmup=0)
    rows = {(r['model'], r['form']): r for r in result['rows']}
    assert set(rows) == set(networks)
    assert rows['3d', 'eager']['median'] >= 25 > rows['2d', 'eager']['median']
    assert rows['2d', 'int8']['max_rel_diff'] == .1
    ratios = {r['form']: r for r in result['ratios']}
    assert set(ratios) == {'eager', 'int8'}  # 'folded' has no 2D row
    assert ratios['eager']['numerator'] == '3d'
    assert 2.0 < ratios['eager']['ratio'] < 3.0
    assert 0.35 < ratios['int8']['ratio'] < 0.65
    assert ratios['int8']['macs_ratio'] == pytest.approx(1.2)
    assert result['load_average'] >= 0


def test_fold_pose_model_keeps_outputs_and_leaves_no_bn():
    from selecsls_mm.benchmark.pose_peers import build_pose_model
    from selecsls_mm.benchmark.pose_runtimes import PoseNetwork
    torch.manual_seed(0)
    model = build_pose_model(pose3d.CONFIG_3D)
    randomize_bn(model, signed=True)  # trained-like BN: folding matters
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        before = PoseNetwork(model)(x)
        how = pose3d.fold_pose_model(model)
        after = PoseNetwork(model)(x)
    assert how.endswith('0 BN left') and '2 deconv' in how
    assert len(before) == len(after) == 3  # heatmaps, PAFs, 3D maps
    for a, b in zip(before, after):
        scale = a.abs().max()
        assert (a - b).abs().max() / scale < 1e-4


def test_stage1_networks_are_checked_against_unfolded_eager(monkeypatch):
    settings = BenchmarkSettings(torch.device('cpu'))
    # a folding that breaks the network must show in max_rel_diff
    monkeypatch.setattr(
        pose3d, 'fold_pose_model', lambda m:
        (torch.nn.init.zeros_(m.head.branch_3d[0].conv.weight), 'broken')[1])
    networks = pose3d.build_stage1_networks({'3d': pose3d.CONFIG_3D}, settings,
                                            (64, 64), ('eager', 'folded'))
    assert set(networks) == {('3d', 'eager'), ('3d', 'folded')}
    assert networks['3d', 'eager']['max_rel_diff'] == 0
    assert networks['3d', 'folded']['max_rel_diff'] > 1e-3
    assert networks['3d', 'folded']['folding'] == 'broken'
    macs = networks['3d', 'eager']['macs']  # 2D branch + 3D branch
    assert networks['3d', 'folded']['macs'] == macs > 1e8
    with pytest.raises(ValueError, match='unknown Stage I form'):
        pose3d.build_stage1_networks({}, settings, (64, 64), ('fp16', ))


def test_int8_form_upsamples_with_sub_pixel_convs():
    pytest.importorskip('onnxruntime')
    settings = BenchmarkSettings(torch.device('cpu'))
    networks = pose3d.build_stage1_networks({'3d': pose3d.CONFIG_3D}, settings,
                                            (64, 64), ('int8', 'int8-deconv'))
    int8, deconv = networks['3d', 'int8'], networks['3d', 'int8-deconv']
    # both heads' transposed convs (2D and 3D branch), which ONNX Runtime
    # could not run in int8; 'int8-deconv' keeps them
    assert int8['folding'].endswith('2 transposed convs as sub-pixel convs')
    assert deconv['folding'].endswith('0 BN left')
    assert 1e-4 < int8['max_rel_diff'] < 0.2  # quantized, still the network
    # MACs of each form as run: per 256 -> 192 upsampling of a 4x4 map, a
    # 3x3 conv to 4 x 192 channels instead of 4x4 taps to 192
    assert int8['macs'] - deconv['macs'] == 2 * 16 * (9 * 4 - 16) * 256 * 192


def test_decode_3d_on_held_out_scenes(monkeypatch):
    from mmengine.config import Config
    from mmpose.registry import KEYPOINT_CODECS

    import selecsls_mm.pose3d.scenes as scenes
    splits = []
    real = scenes.SceneGenerator

    def generator(split, **kwargs):
        splits.append((split, kwargs['num_people']))
        return real(split, **kwargs)

    monkeypatch.setattr(scenes, 'SceneGenerator', generator)
    codec = KEYPOINT_CODECS.build(
        Config.fromfile(pose3d.CONFIG_3D).model.head.decoder.to_dict())
    calls, decode = [], codec.decode

    def recording(*maps, **kwargs):  # what is timed: all of 3D decoding
        calls.append((len(maps), kwargs))
        return decode(*maps, **kwargs)

    codec.decode = recording
    rows = pose3d.time_decode_3d(codec, (2, 3), scenes=2, repeats=1)
    assert (3, dict(return_samples=True)) in calls
    assert splits == [('held_out', (2, 2)), ('held_out', (3, 3))]
    assert [r['num_people'] for r in rows] == [2, 3]
    for r in rows:
        assert r['heatmap_size'] == [64, 40]
        assert 0 < r['people'] <= 2 * r['num_people']
        assert 0.6 * r['people'] <= r['found'] <= r['people']
        assert 0 < r['min_ms'] <= r['ms']


def test_stages_2_and_3_per_person(monkeypatch):
    import selecsls_mm.pose3d.fitting.benchmark as stage3
    threads, timer = [], stage3.time_stage3

    def time_stage3(*args):
        threads.append(torch.get_num_threads())
        return timer(*args)

    monkeypatch.setattr(stage3, 'time_stage3', time_stage3)
    before = torch.get_num_threads()
    rows = pose3d.time_stages_2_and_3((1, 2), iters=2, warmup=1)
    assert threads == [1, 1] and torch.get_num_threads() == before
    assert [r['num_people'] for r in rows] == [1, 2]
    for r in rows:
        n = r['num_people']
        assert r['stage2_ms_per_person'] == pytest.approx(r['stage2_ms'] / n)
        assert r['stage3_ms_per_person'] > 0
        assert r['ms_per_person'] == pytest.approx(r['stage2_ms_per_person'] +
                                                   r['stage3_ms_per_person'])


def fake_result(int8=True):
    rows = [
        dict(
            model=m,
            form=f,
            median=ms,
            iqr=1.,
            min=ms - 1,
            n=3,
            max_rel_diff=0.,
            macs=11e9 if m == '2d' else 13e9,
            folding='-' if f == 'eager' else f'{m} folded')
        for m, f, ms in (('2d', 'eager', 100.), ('3d', 'eager', 150.),
                         ('2d', 'int8', 30.), ('3d', 'int8', 40.))
        if int8 or f != 'int8'
    ]
    stage1 = dict(
        rows=rows,
        ratios=[
            dict(
                form='eager',
                numerator='3d',
                denominator='2d',
                ratio=1.5,
                macs_ratio=13 / 11)
        ],
        load_average=1.,
        size=[512, 320])
    decode = [
        dict(
            num_people=n,
            heatmap_size=[64, 40],
            ms=ms,
            iqr_ms=.1,
            min_ms=ms,
            people=4 * n,
            found=4 * n,
            load_average=1.) for n, ms in ((5, 4.), (10, 12.))
    ]
    stages = [
        dict(
            num_people=n,
            stage2_ms=s2,
            stage3_ms=s3,
            stage2_ms_per_person=s2 / n,
            stage3_ms_per_person=s3 / n,
            ms_per_person=(s2 + s3) / n,
            threads=1,
            load_average=1.) for n, s2, s3 in ((1, .7, 1.), (5, 1., 5.))
    ]
    return stage1, decode, stages


def test_real_time_frame_sums_the_right_parts():
    stage1, decode, stages = fake_result()
    frame = pose3d.real_time_frame(stage1, decode, stages)
    assert frame['parts'] == dict(network=40., decode=4., stage2=1., stage3=5.)
    assert frame['ms'] == 50. and frame['fps'] == pytest.approx(20.)
    assert sum(frame['shares'].values()) == pytest.approx(1.)
    assert pose3d.real_time_frame(*fake_result(int8=False)) is None


def test_pose3d_report_prints_rows_ratios_and_targets():
    stage1, decode, stages = fake_result()
    result = dict(
        stage1=stage1,
        decode=decode,
        stages=stages,
        real_time=pose3d.real_time_frame(stage1, decode, stages),
        skipped={'3d [int8]': 'runtime onnxruntime-int8 needs onnx'},
        load_average=dict(start=1.5, end=2.5))
    text = report.pose3d_report(result)
    assert 'load average 1.50 at the start, 2.50 at the end' in text
    assert '| eager | 1.50 | 1.18 | **no** |' in text  # 1.50 > 1.30
    assert '| 3d | eager | 13.00 | 150 (1.00) | 149 | 6.7 |' in text
    assert '| 10 | 40 / 40 | 12.0 (0.10) | 12.0 | **no** |' in text
    assert '| 5 | 20 / 20 | 4.00 (0.10) | 4.00 |  |' in text
    assert '| 5 | 1.00 | 5.00 | 0.20 | 1.00 | 1.20 | yes |' in text
    assert 'on held-out clips, 1 torch thread(s)' in text
    assert 'BN folding: 2d: 2d folded; 3d: 3d folded' in text
    assert '| network | 40.0 | 80% |' in text
    assert '20.0 fps; target >= 10 fps: yes' in text
    assert 'not timed: 3d [int8]: runtime onnxruntime-int8' in text
    result['real_time'] = None
    assert 'Real time (5 people): not measured' in \
        report.pose3d_report(result)


@pytest.mark.slow
def test_pose3d_cli(tmp_path):
    out = tmp_path / 'bench3d.json'
    proc = subprocess.run([
        sys.executable, 'tools/benchmark.py', '--pose3d', 'eager',
        '--pose-size', '64x64', '--iters', '1', '--warmup', '0', '--json',
        str(out)
    ],
                          cwd=ROOT,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())['pose3d']
    assert {r['model'] for r in data['stage1']['rows']} == {'2d', '3d'}
    assert data['stage1']['size'] == [64, 64]
    ratio = data['stage1']['ratios'][0]['ratio']
    assert f'| eager | {ratio:.2f} |' in proc.stdout
    assert [r['num_people'] for r in data['decode']] == [5, 10]
    assert [r['num_people'] for r in data['stages']] == [1, 5]
    assert data['real_time'] is None  # no int8 network asked for
    assert np.isfinite(data['load_average']['end'])
