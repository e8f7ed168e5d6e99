# SelecSLS-42b on ImageNet-1k: 8 GPUs x 32 images, 224x224 (README.md here).
_base_ = ['../_base_/selecsls_imagenet.py']

model = dict(backbone=dict(arch='42b'), head=dict(in_channels=1024))
