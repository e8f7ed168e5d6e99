_base_ = ['./_base_/selecsls_imagenet.py']

model = dict(backbone=dict(arch='42'), head=dict(in_channels=1280))
