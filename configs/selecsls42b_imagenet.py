_base_ = ['./_base_/selecsls_imagenet.py']

model = dict(backbone=dict(arch='42b'), head=dict(in_channels=1024))
