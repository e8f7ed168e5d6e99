# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Stage II training and test data from real motion: one person per item,
a DeepMimic frame placed in front of a real camera, projected, and read
out by a simulated Stage I (:mod:`.simulate`). No image is rendered.

The clips and cameras come from one split (:func:`~..scenes.scene_split`):
``'train'`` (TRAIN_CLIPS, TRAIN_CAMERAS) or ``'held_out'`` (HELD_OUT_CLIPS,
HELD_OUT_CAMERAS); people are placed by :class:`~..scenes.SceneGenerator`'s
placement (log-uniform depth, random heading, camera height and pitch, a
share across the image border). A test set (``test_mode=True``) draws item
``i`` from the seed ``(seed, i)``, so it is the same in every run and
order; a training set draws fresh people every epoch.
"""
from functools import lru_cache
from typing import Optional, Sequence, Tuple

import numpy as np
import torch.utils.data
from mmengine.dataset import BaseDataset
from mmpose.registry import DATASETS

from ..joint_sets import COCO_KEYPOINTS, get_joint_set
from ..motion import POINT_NAMES
from ..scenes import SceneGenerator
from .pose_jitter import jitter_joints, mix_limbs
from .readout import read_out_pose, read_places
from .simulate import StageIReadoutSimulator

# SceneGenerator needs a photo; people are placed here, never drawn.
_NO_PHOTO = np.zeros((2, 2, 3), np.uint8)
_COCO_POINTS = [POINT_NAMES.index(n) for n in COCO_KEYPOINTS]


def _mirror_index() -> np.ndarray:
    """Index of each point's left/right counterpart in POINT_NAMES."""
    swap = {'left_': 'right_', 'right_': 'left_'}
    out = []
    for name in POINT_NAMES:
        side = next((s for s in swap if name.startswith(s)), None)
        out.append(
            POINT_NAMES.index(swap[side] + name[len(side):]
                              ) if side else POINT_NAMES.index(name))
    return np.asarray(out)


_MIRROR = _mirror_index()


@DATASETS.register_module()
class MotionLiftingDataset(BaseDataset):
    """People from real motion with their simulated Stage I read-out.

    Each item (before the pipeline) holds, for one person (leading axis 1):
    the read-out ``keypoints`` (1, 17, 2) px, ``keypoints_visible``
    (found), ``keypoint_scores``, ``samples_3d`` (1, 17, 3J) mm; the truth
    ``lifting_target`` (1, J, 3) root-relative mm (camera frame) and
    ``lifting_target_visible`` (1, J); ``joints_seen`` (1, J) (the joint's
    own keypoint found); ``readout_keypoints_3d`` (1, J, 3), Stage I's own
    pose (:func:`~.readout.read_out_pose`); and ``clip``, ``frame``,
    ``camera_param``.

    Args:
        split (str): ``'train'`` or ``'held_out'``. Defaults to ``'train'``.
        num_samples (int): Items per epoch. Defaults to 20000.
        joint_set (str): 3D joint set. Defaults to ``'coco21'``.
        clips (Sequence[str], optional): Only these clips of the split
            (e.g. to tune on part of the training clips).
        image_size (tuple): (w, h) the cameras are fitted to.
            Defaults to (512, 320).
        depth_range (tuple): Root depth range (mm). Defaults to
            (2500, 12000).
        truncation (float): Share of people placed across the image
            border. Defaults to 0.3.
        body_scale (tuple): Range of a uniform body-size factor (people
            are not all the mocap actor's size). Defaults to (0.85, 1.15).
        mirror (bool, optional): Mirror half the people left/right.
            Defaults to True for training, False in test mode.
        joint_jitter_deg (float): Spread (degrees) of a random rotation of
            every body about its joint (:mod:`.pose_jitter`); 0 keeps the
            mocap poses. Defaults to 0.
        limb_mix_prob (float): Chance of each limb (head, arms, legs) to
            be taken from another frame of the split's clips
            (:func:`~.pose_jitter.mix_limbs`). Defaults to 0.
        readout (dict, optional): :class:`StageIReadoutSimulator` args.
        seed (int): Seed of a test set. Defaults to 0.
        pipeline (Sequence[dict]): Transforms. Defaults to none.
        test_mode (bool): A fixed set (item i from seed (seed, i)).
            Defaults to False.
    """

    METAINFO = dict(dataset_name='deepmimic_lifting')

    def __init__(self,
                 split: str = 'train',
                 num_samples: int = 20000,
                 joint_set: str = 'coco21',
                 clips: Optional[Sequence[str]] = None,
                 image_size: Tuple[int, int] = (512, 320),
                 depth_range: Tuple[float, float] = (2500., 12000.),
                 truncation: float = 0.3,
                 body_scale: Tuple[float, float] = (0.85, 1.15),
                 mirror: Optional[bool] = None,
                 joint_jitter_deg: float = 0.,
                 limb_mix_prob: float = 0.,
                 readout: Optional[dict] = None,
                 seed: int = 0,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if num_samples < 1:
            raise ValueError(f'num_samples={num_samples} must be >= 1')
        self.split = split
        self.num_samples = int(num_samples)
        self.joint_set = get_joint_set(joint_set)
        self.generator = SceneGenerator(
            split,
            image_size=image_size,
            depth_range=depth_range,
            truncation=truncation,
            photos=[_NO_PHOTO])
        if clips is not None:
            self._keep_clips(clips)
        self.body_scale = tuple(body_scale)
        self.mirror = (not test_mode) if mirror is None else bool(mirror)
        self.joint_jitter_deg = float(joint_jitter_deg)
        self.limb_mix_prob = float(limb_mix_prob)
        # every frame of the split's clips (kept ones): the limbs' donors
        self.donors = np.concatenate([c.points for c in self.generator.clips])
        self.simulator = StageIReadoutSimulator(self.joint_set.name,
                                                **(readout or {}))
        self.seed = int(seed)
        self.joint_index = [POINT_NAMES.index(n) for n in self.joint_set.names]
        super().__init__(
            pipeline=list(pipeline),
            test_mode=test_mode,
            serialize_data=False,
            **kwargs)

    def _keep_clips(self, clips: Sequence[str]) -> None:
        have = {c.name: c for c in self.generator.clips}
        unknown = sorted(set(clips) - set(have))
        if unknown:
            raise ValueError(f'clips {unknown} are not in the {self.split!r} '
                             f'split, whose clips are {sorted(have)}')
        self.generator.clips = [have[c] for c in clips]

    def load_data_list(self) -> list:
        return [dict(sample_idx=i) for i in range(self.num_samples)]

    @property
    def mean_pose(self) -> np.ndarray:
        """Mean root-relative pose (J, 3) mm of the TRAINING data (the fill
        of Stage I's missing joints)."""
        return training_mean_pose(self.joint_set.name)

    def _rng(self, idx: int) -> np.random.Generator:
        if self.test_mode:
            return np.random.default_rng([self.seed, idx])
        # training: fresh people each epoch, reproducible through the
        # global numpy seed that mmengine's randomness config sets. In a
        # DataLoader worker also through torch's seed of the worker, which
        # is new at every start: mmengine seeds numpy in each new worker
        # alike, so workers started for every epoch would repeat the people
        worker = torch.utils.data.get_worker_info()
        draw = list(np.random.randint(2**31, size=2))
        if worker is not None:
            draw.insert(0, worker.seed % 2**32)
        return np.random.default_rng(draw)

    def place_person(self, rng: np.random.Generator):
        """One person in front of a random camera of the split.

        Returns:
            tuple: camera-frame points (P, 3) mm of POINT_NAMES, the
            camera and (clip name, frame index).
        """
        gen = self.generator
        camera = gen.cameras[rng.integers(len(gen.cameras))]
        height = rng.uniform(700., 1500.)  # as SceneGenerator draws them
        pitch = np.deg2rad(rng.uniform(-8., 8.))
        points, source = gen._place(rng, camera, height, pitch, [])
        points = mix_limbs(rng, points, self.donors, self.limb_mix_prob)
        points = jitter_joints(rng, points, self.joint_jitter_deg)
        root = points[0]  # the pelvis
        points = root + rng.uniform(*self.body_scale) * (points - root)
        if self.mirror and rng.random() < 0.5:
            # reflect across the vertical plane through the root, and
            # relabel left/right, so the pose is a real (mirrored) pose
            points = points[_MIRROR]
            points[:, 0] = 2 * root[0] - points[:, 0]
        return points, camera, source

    def root_relative(self, points: np.ndarray) -> np.ndarray:
        joints = points[self.joint_index]
        return joints - joints[self.joint_set.root]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        rng = self._rng(idx)
        for _ in range(100):
            points, camera, (clip, frame) = self.place_person(rng)
            pose = self.root_relative(points)
            other = self.root_relative(self.place_person(rng)[0])
            read = self.simulator(rng, camera.project(points[_COCO_POINTS]),
                                  (camera.width, camera.height), pose, other)
            if read is not None:
                break
        else:
            raise RuntimeError('no person with enough keypoints in the '
                               'image in 100 tries; lower truncation')
        found = read['keypoints_visible'] > 0
        seen = read_places(self.joint_set.name)[0] @ found > 0
        readout = read_out_pose(found[None], read['samples_3d'][None],
                                self.joint_set, self.mean_pose)
        info.update({k: v[None] for k, v in read.items()})
        info.update(
            lifting_target=pose[None].astype(np.float32),
            lifting_target_visible=np.ones((1, len(pose)), np.float32),
            joints_seen=seen[None],
            readout_keypoints_3d=readout.astype(np.float32),
            clip=clip,
            frame=frame,
            camera_param=camera.to_dict(),
            img_shape=(camera.height, camera.width))
        return info


@lru_cache(maxsize=4)
def training_mean_pose(joint_set: str = 'coco21',
                       samples: int = 2000,
                       seed: int = 0) -> np.ndarray:
    """Mean root-relative pose (J, 3) mm of people placed from the
    TRAINING clips in front of the training cameras (camera frame)."""
    data = MotionLiftingDataset(
        'train', num_samples=1, joint_set=joint_set, test_mode=True)
    rng = np.random.default_rng(seed)
    poses = [
        data.root_relative(data.place_person(rng)[0]) for _ in range(samples)
    ]
    return np.mean(poses, axis=0)
