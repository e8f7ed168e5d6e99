from .maps_3d import (combine_readouts, drop_foreign_readouts, pixel_owners,
                      render_3d_maps, sample_3d_maps, shared_joints)
from .relative import (RELATIVE_TO, joint_offsets, offsets_to_root_relative,
                       topological_order)

__all__ = [
    'combine_readouts', 'drop_foreign_readouts', 'pixel_owners',
    'render_3d_maps', 'sample_3d_maps', 'shared_joints', 'RELATIVE_TO',
    'joint_offsets', 'offsets_to_root_relative', 'topological_order'
]
