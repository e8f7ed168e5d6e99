# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Packing of part-affinity-field targets for mmpose data samples."""
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackPAFInputs(PackPoseInputs):
    """``PackPoseInputs`` that also packs part affinity fields.

    mmpose's ``PackPoseInputs`` copies a fixed table of pixel-level targets
    into ``data_sample.gt_fields``; ``pafs`` and ``paf_weights`` (from the
    ``PartAffinityField`` codec) are not in it and would be dropped. This
    subclass adds them to the table and packs everything else unchanged.

    Args:
        meta_keys (Sequence[str]): As in ``PackPoseInputs``.
        **kwargs: Other arguments of ``PackPoseInputs`` for the installed
            mmpose version (e.g. ``pack_transformed``).
    """

    # Extra pixel-level targets: result key -> gt_fields key. Kept as a
    # class attribute like mmpose's own tables, so both the mmpose 1.1 class
    # table and later versions' (instance-level) tables are extended.
    paf_field_mapping = {'pafs': 'pafs', 'paf_weights': 'paf_weights'}
    field_mapping_table = {
        **PackPoseInputs.field_mapping_table,
        **paf_field_mapping
    }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # mmpose versions that build the table per instance would otherwise
        # shadow the class attribute above.
        self.field_mapping_table = {
            **self.field_mapping_table,
            **self.paf_field_mapping
        }

    def transform(self, results: dict) -> dict:
        """Pack like ``PackPoseInputs``, keeping the default fields.

        mmpose >= 1.3 packs with ``results['*_mapping_table']`` (set by
        ``GenerateTarget`` from the codec) *instead of* the class tables,
        which would drop ``heatmap_mask`` and the instance fields; the
        tables are merged here so both are packed. mmpose 1.1 ignores these
        keys.
        """
        results = dict(results)
        for table in ('instance_mapping_table', 'label_mapping_table',
                      'field_mapping_table'):
            if table in results:
                results[table] = {**getattr(self, table), **results[table]}
        return super().transform(results)
