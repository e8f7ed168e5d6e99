from .maps_3d import (combine_readouts, drop_foreign_readouts, pixel_owners,
                      render_3d_maps, sample_3d_maps, shared_joints)

__all__ = [
    'combine_readouts', 'drop_foreign_readouts', 'pixel_owners',
    'render_3d_maps', 'sample_3d_maps', 'shared_joints'
]
