from .part_affinity_field import PartAffinityField, parse_skeleton

__all__ = ['PartAffinityField', 'parse_skeleton']
