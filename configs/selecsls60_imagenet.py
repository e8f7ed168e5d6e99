# The README's short name for configs/selecsls/selecsls60_8xb32_in1k.py.
_base_ = ['./selecsls/selecsls60_8xb32_in1k.py']
