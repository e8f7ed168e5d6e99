from .part_affinity_field_3d import PartAffinityField3D

__all__ = ['PartAffinityField3D']
