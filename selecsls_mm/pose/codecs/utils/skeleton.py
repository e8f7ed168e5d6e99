# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""The limb set of a part-affinity-field codec: a ``skeleton`` argument
(index pairs, or dataset metainfo with an optional named limb set or pairs
of keypoint names) turned into checked (start, end) keypoint index pairs."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

from mmpose.datasets.datasets.utils import parse_pose_metainfo

from ..limb_sets import LIMB_SETS


def resolve_metainfo_file(path: str) -> str:
    """Find a dataset metainfo config.

    Args:
        path (str): A local path, a path relative to mmpose's packaged
            configs (``configs/_base_/datasets/x.py``) or
            ``mmpose::_base_/datasets/x.py``.

    Returns:
        str: The path of the existing file.
    """
    import mmpose
    mim = osp.join(osp.dirname(mmpose.__file__), '.mim')
    if path.startswith('mmpose::'):
        candidates = [osp.join(mim, 'configs', path[len('mmpose::'):])]
    else:
        candidates = [
            path, osp.join(mim, path),
            osp.join(mim, 'configs', path)
        ]
    for candidate in candidates:
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'Skeleton metainfo file "{path}" not found (tried {candidates}). '
        'Pass an existing path, e.g. '
        "dict(from_file='configs/_base_/datasets/coco.py').")


def _limb_pairs(limbs, names: Optional[Sequence[str]]) -> list:
    """Limbs given by a set name, keypoint names or indices -> index pairs."""
    if isinstance(limbs, str):
        if limbs not in LIMB_SETS:
            raise ValueError(
                f'Unknown limb set {limbs!r}; choose one of '
                f'{sorted(LIMB_SETS)} or list (start, end) keypoint pairs.')
        limbs = LIMB_SETS[limbs]
    index = {name: i for i, name in enumerate(names or ())}
    pairs = []
    for limb in limbs:
        try:
            a, b = limb
        except (TypeError, ValueError) as err:
            raise ValueError(
                'A limb must be a (start, end) pair of keypoint indices or '
                f'names, got {limb!r}.') from err
        pair = []
        for end in (a, b):
            if isinstance(end, str):
                if end not in index:
                    raise ValueError(
                        f'Limb {tuple(limb)} names unknown keypoint {end!r}; '
                        + (f'the keypoints are {list(index)}.' if index else
                           'keypoint names need dataset metainfo: pass '
                           "skeleton=dict(from_file='configs/_base_/"
                           "datasets/coco.py', limbs=[...]).'"))
                pair.append(index[end])
            else:
                try:
                    pair.append(int(end))
                except (TypeError, ValueError) as err:
                    raise ValueError(
                        f'Limb {limb!r}: {end!r} is neither a keypoint index '
                        'nor a keypoint name.') from err
        pairs.append(tuple(pair))
    return pairs


def check_limbs(limbs: Sequence[Tuple[int, int]],
                num_keypoints: Optional[int]) -> None:
    """Raise ValueError unless the limbs are distinct pairs of distinct,
    valid keypoint indices that together touch every keypoint.

    Args:
        limbs (Sequence[tuple]): (start, end) keypoint index pairs.
        num_keypoints (int, optional): The number of keypoints K; ``None``
            skips the range and coverage checks.
    """
    if not limbs:
        raise ValueError(
            'The skeleton has no limbs, so there is no part affinity field '
            'to encode. Pass (start, end) keypoint index pairs or metainfo '
            'with skeleton_info, e.g. '
            "dict(from_file='configs/_base_/datasets/coco.py').")
    seen = set()
    for a, b in limbs:
        if a < 0 or b < 0 or a == b or (num_keypoints is not None
                                        and max(a, b) >= num_keypoints):
            raise ValueError(
                f'Invalid limb ({a}, {b}): indices must be distinct, '
                'non-negative and below the number of keypoints '
                f'({num_keypoints}).')
        if frozenset((a, b)) in seen:
            raise ValueError(f'Limb ({a}, {b}) is listed twice (in either '
                             'direction); each limb gets one field.')
        seen.add(frozenset((a, b)))
    if num_keypoints is not None:
        used = {k for limb in limbs for k in limb}
        missing = sorted(set(range(num_keypoints)) - used)
        if missing:
            raise ValueError(
                f'Keypoints {missing} are in no limb, so the decoder could '
                'never connect them to a person; add limbs that reach them '
                "(e.g. the default limbs='coco_redundant' for COCO).")


def parse_skeleton(
    skeleton: Union[Sequence[Sequence[int]], dict],
    num_keypoints: Optional[int] = None
) -> Tuple[List[Tuple[int, int]], Optional[int]]:
    """Turn a skeleton argument into limb index pairs and check it.

    Args:
        skeleton (Sequence | dict): Either (start, end) keypoint index pairs
            or mmpose dataset metainfo (anything :func:`parse_pose_metainfo`
            accepts, e.g. ``dict(from_file='configs/_base_/datasets/
            coco.py')``). With metainfo, an optional ``limbs`` key picks the
            limbs: a set name from :data:`LIMB_SETS` (e.g.
            ``'coco_redundant'``) or (start, end) pairs of keypoint names or
            indices; without it the dataset's ``skeleton_links`` are used.
        num_keypoints (int, optional): The number of keypoints, for plain
            index pairs. Defaults to None (checked at encode/decode time).

    Returns:
        tuple: The limbs as a list of (start, end) pairs, and the number of
        keypoints given by the metainfo or ``num_keypoints``.
    """
    if isinstance(skeleton, dict):
        metainfo = dict(skeleton)
        limbs = metainfo.pop('limbs', None)
        if 'from_file' in metainfo:
            metainfo['from_file'] = resolve_metainfo_file(
                metainfo['from_file'])
        parsed = parse_pose_metainfo(metainfo)
        names = [
            parsed['keypoint_id2name'][k]
            for k in range(parsed['num_keypoints'])
        ]
        if num_keypoints is not None and num_keypoints != len(names):
            raise ValueError(
                f'num_keypoints={num_keypoints} but the metainfo has '
                f'{len(names)} keypoints.')
        num_keypoints = len(names)
        limbs = parsed['skeleton_links'] if limbs is None else _limb_pairs(
            limbs, names)
    elif isinstance(skeleton, str):
        raise ValueError(
            f'skeleton={skeleton!r}: a limb set name needs the dataset '
            "metainfo for the keypoint names: pass skeleton=dict(from_file="
            f"'configs/_base_/datasets/coco.py', limbs={skeleton!r}).")
    else:
        try:
            limbs = _limb_pairs(skeleton, None)
        except TypeError as err:
            raise ValueError(
                'skeleton must be a list of (start, end) keypoint index pairs '
                f'or a metainfo dict, got {skeleton!r}') from err
    limbs = [(int(a), int(b)) for a, b in limbs]
    check_limbs(limbs, num_keypoints)
    return limbs, num_keypoints
