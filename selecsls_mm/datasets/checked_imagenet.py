# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""ImageNet-layout dataset whose data-format errors name the file and line."""
import os.path as osp
from typing import List, Optional, Union

from mmengine import fileio
from mmpretrain.datasets import ImageNet
from mmpretrain.registry import DATASETS

_LINE_FORMAT = ('"relative/path/to/image.JPEG CLASS_INDEX" (path relative to '
                'the split folder, 0-based class index)')


@DATASETS.register_module()
class CheckedImageNet(ImageNet):
    """:class:`mmpretrain.datasets.ImageNet` in the annotated layout, checked.

    The layout is mmpretrain's standard one::

        data_root
        ├── meta
        │   ├── train.txt      # "n01440764/x.JPEG 0" per line
        │   └── val.txt        # "ILSVRC2012_val_00000001.JPEG 65" per line
        ├── train
        └── val

    Unlike the parent class, a wrong dataset stops before training or testing
    starts, with a message that names the file and the line:

    - a missing annotation file (the parent silently falls back to scanning
      class folders, which gives wrong labels for the flat ``val`` folder);
    - a malformed line, a class index outside ``[0, num_classes)`` or a listed
      image that does not exist;
    - an image that cannot be decoded, when the pipeline loads it.

    Args:
        data_root (str): The root directory of the dataset. Defaults to ''.
        split (str): ``'train'``, ``'val'`` or ``'test'`` (no labels); sets
            ``data_prefix`` and ``ann_file`` to ``<split>`` and
            ``meta/<split>.txt`` unless they are given. Defaults to ''.
        data_prefix (str | dict): Prefix of the image paths. Defaults to ''.
        ann_file (str): Annotation file, one image per line. Defaults to ''.
        metainfo (dict, optional): Meta information, e.g. ``classes``.
            Defaults to the 1000 ImageNet classes.
        num_classes (int, optional): Number of classes of the classifier the
            labels must fit; defaults to the number of ``classes``.
        check_files (bool): Check that every listed image exists when the
            dataset is loaded (a few seconds per million images on a local
            disk; turn off for slow remote storage). Defaults to True.
        **kwargs: Other arguments of :class:`mmpretrain.datasets.ImageNet`.
    """

    def __init__(self,
                 data_root: str = '',
                 split: str = '',
                 data_prefix: Union[str, dict] = '',
                 ann_file: str = '',
                 metainfo: Optional[dict] = None,
                 num_classes: Optional[int] = None,
                 check_files: bool = True,
                 **kwargs):
        if split and not ann_file:
            ann_file = fileio.join_path('meta', f'{split}.txt')
        if not ann_file:
            raise ValueError(
                'CheckedImageNet needs `split` or `ann_file` (a list of '
                f'{_LINE_FORMAT}); for class-per-folder data without an '
                "annotation file use type='ImageNet'")
        ann_path = fileio.join_path(data_root, ann_file) \
            if data_root and not osp.isabs(ann_file) else ann_file
        if not fileio.exists(ann_path):
            raise FileNotFoundError(
                f'annotation file {ann_path} does not exist: write one line '
                f'per image, {_LINE_FORMAT}, or point `data_root`/`ann_file` '
                'of the dataset config at the right place')
        self._num_classes = num_classes
        self._check_files = check_files
        super().__init__(
            data_root=data_root,
            split=split,
            data_prefix=data_prefix,
            ann_file=ann_file,
            metainfo=metainfo,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Read the annotation file, checking every line."""
        num_classes = self._num_classes
        if num_classes is None:
            num_classes = len(self._metainfo.get('classes') or ())
        text = fileio.get_text(self.ann_file)
        # One backend for all paths: per-call backend inference is slow for
        # the 1.28M training images.
        backend = fileio.get_file_backend(
            self.img_prefix, enable_singleton=True)
        data_list = []
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line:
                continue
            where = f'{self.ann_file}, line {lineno}'
            if self.with_label:
                parts = line.rsplit(maxsplit=1)
                if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
                    raise ValueError(f'{where}: expected {_LINE_FORMAT}, '
                                     f'got {line!r}')
                filename, label = parts[0], int(parts[1])
                if not 0 <= label < num_classes:
                    raise ValueError(
                        f'{where}: class index {label} is outside the '
                        f'{num_classes} classes of the head (0..'
                        f'{num_classes - 1}); fix the label or set the '
                        "classes (`metainfo=dict(classes=...)`) and the "
                        "head's num_classes to match the data")
            else:
                filename, label = line, None
            img_path = backend.join_path(self.img_prefix, filename)
            if self._check_files and not backend.exists(img_path):
                raise FileNotFoundError(
                    f'{where}: image {img_path} does not exist; paths are '
                    f'relative to {self.img_prefix}')
            info = dict(img_path=img_path, ann_line=where)
            if label is not None:
                info['gt_label'] = label
            data_list.append(info)
        if not data_list:
            raise ValueError(f'{self.ann_file} lists no images')
        return data_list

    def prepare_data(self, idx: int):
        """Run the pipeline on one sample; errors name the image and line."""
        try:
            return super().prepare_data(idx)
        except Exception as e:
            info = self.get_data_info(idx)
            raise RuntimeError(
                f'{info["img_path"]} ({info["ann_line"]}) could not be loaded '
                f'or transformed: {type(e).__name__}: {e}. Replace the image '
                'or remove its line') from e
