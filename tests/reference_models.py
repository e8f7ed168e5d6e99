"""Independent SelecSLS reference networks for the tests: timm's models for
42, 42b, 60, 60b and 84, and timm's building blocks with the block table of
the original SelecSLS-Pytorch release for 102 (timm has no 102).

Nothing here reads ``SelecSLS.arch_settings``: the 102 table below is typed
in from the original release's ``models/selecsls.py`` (``SelecSLS102``).
"""
import timm
import torch
from timm.models.selecsls import SelecSls, SelecSlsBlock

from helpers import randomize_bn

TIMM_ARCHS = {
    '42': 'selecsls42',
    '42b': 'selecsls42b',
    '60': 'selecsls60',
    '60b': 'selecsls60b',
    '84': 'selecsls84'
}
ARCHS = [*TIMM_ARCHS, '102']

# The original release's SelecSLS102: (in, skip, k, out, is_first, stride)
# per block, then the head convs as (in, out, kernel, stride).
REFERENCE_102_BLOCKS = [
    (32, 0, 64, 64, True, 2),
    (64, 64, 64, 64, False, 1),
    (64, 64, 64, 64, False, 1),
    (64, 64, 64, 128, False, 1),
    (128, 0, 128, 128, True, 2),
    (128, 128, 128, 128, False, 1),
    (128, 128, 128, 128, False, 1),
    (128, 128, 128, 128, False, 1),
    (128, 128, 128, 288, False, 1),
    (288, 0, 288, 288, True, 2),
    (288, 288, 288, 288, False, 1),
    (288, 288, 288, 288, False, 1),
    (288, 288, 288, 288, False, 1),
    (288, 288, 288, 288, False, 1),
    (288, 288, 288, 288, False, 1),
    (288, 288, 288, 480, False, 1),
]
REFERENCE_102_HEAD = [(480, 960, 3, 2), (960, 1024, 3, 1), (1024, 1024, 3, 2),
                      (1024, 1280, 1, 1)]


def _reference_102(num_classes: int) -> SelecSls:
    cfg = dict(
        block=SelecSlsBlock,
        features=REFERENCE_102_BLOCKS,
        head=REFERENCE_102_HEAD,
        num_features=1280,
        # level ends: stem, the last block of each stage (the block before
        # the next is_first), the second and fourth head convs
        feature_info=[
            dict(num_chs=32, reduction=2, module='stem.2'),
            dict(num_chs=128, reduction=4, module='features.3'),
            dict(num_chs=288, reduction=8, module='features.8'),
            dict(num_chs=480, reduction=16, module='features.15'),
            dict(num_chs=1024, reduction=32, module='head.1'),
            dict(num_chs=1280, reduction=64, module='head.3'),
        ])
    return SelecSls(cfg, num_classes=num_classes)


def reference_model(arch: str,
                    num_classes: int = 1000,
                    random_bn: bool = True) -> torch.nn.Module:
    """The independent reference network of ``arch`` in eval mode.

    For 84 the last head conv is the original release's 1x1 conv (timm's
    ``selecsls84`` uses a 3x3 one there, the only difference). With
    ``random_bn`` every BN gets random statistics, as trained weights have.
    """
    if arch == '102':
        model = _reference_102(num_classes)
    else:
        model = timm.create_model(
            TIMM_ARCHS[arch], pretrained=False, num_classes=num_classes)
    if arch == '84':
        model.head[3][0] = torch.nn.Conv2d(1024, 1280, 1, bias=False)
    if random_bn:
        randomize_bn(model)
    return model.eval()


def reference_levels(model: SelecSls):
    """The reference modules of each of the six levels, split where timm's
    ``feature_info`` puts the level ends: stem, three groups of blocks, two
    groups of head convs."""
    ends = [int(f['module'].split('.')[1]) for f in model.feature_info]
    blocks = list(model.features)
    head = list(model.head)
    return [[model.stem], blocks[:ends[1] + 1],
            blocks[ends[1] + 1:ends[2] + 1], blocks[ends[2] + 1:ends[3] + 1],
            head[:ends[4] + 1], head[ends[4] + 1:ends[5] + 1]]
