# Copyright (c) selecsls-mm contributors. Licensed under the MIT license.
"""Group keypoint peaks into people by the summed evidence of all their
limbs (greedy additive edge contraction), and let people share a peak where
two keypoints of one type coincide.

Every candidate limb that passed the PAF test is evidence that its two
peaks belong to one person: ``-log(1 - s)`` for its score ``s``. A
limb of the skeleton between two pieces whose candidate failed the PAF test
is evidence against joining them (``missing_limb_cost``). Two pieces are
joined, strongest total first, while the total is positive and they have no
keypoint type in common. Summing over limbs matters where people overlap:
the averaged field there can make a wrong limb score higher than the right
one, but the redundant limbs of a person agree with each other.
"""
import heapq
from typing import List, Sequence, Tuple

import numpy as np


def limb_evidence(scores: np.ndarray) -> np.ndarray:
    """Evidence ``-log(1 - s)`` of valid limbs with scores ``s`` (clipped to
    1 - 1e-6): positive for every limb that passed the PAF test (a weak
    field, as a network's or one half of a flip test, still joins), and
    near-perfect limbs outweigh several good ones."""
    s = np.clip(np.asarray(scores, dtype=np.float64), 0., 1 - 1e-6)
    return -np.log1p(-s)


def _limbs_of_types(skeleton: Sequence[Tuple[int, int]],
                    num_keypoints: int) -> List[int]:
    """Bit mask of the limbs touching each keypoint type."""
    touching = [0] * num_keypoints
    for limb, (a, b) in enumerate(skeleton):
        touching[a] |= 1 << limb
        touching[b] |= 1 << limb
    return touching


def _to_people(members: list, types: list, num_keypoints: int) -> np.ndarray:
    people = []
    for peaks in members:
        if peaks is not None:
            slots = [-1] * num_keypoints
            for p in peaks:
                slots[types[p]] = p
            people.append(slots)
    return np.array(people, dtype=np.intp).reshape(-1, num_keypoints)


def cluster_people(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray,
                   types: np.ndarray, skeleton: Sequence[Tuple[int, int]],
                   num_keypoints: int, missing_limb_cost: float) -> np.ndarray:
    """Join peaks into people, the pair of pieces with the strongest total
    limb evidence first.

    The evidence between two pieces is the sum of :func:`limb_evidence` of
    the valid candidates between their peaks, minus ``missing_limb_cost``
    for each skeleton limb between their keypoint types without a valid
    candidate. Pieces with a keypoint type in common are never joined.

    Args:
        starts (np.ndarray): Start peak of each valid candidate, (C, ).
        ends (np.ndarray): End peak of each valid candidate, (C, ).
        scores (np.ndarray): Candidate scores, (C, ).
        types (np.ndarray): Keypoint type of every peak, (P, ).
        skeleton (Sequence[tuple]): The limbs as (start, end) types.
        num_keypoints (int): Number of keypoint types K.
        missing_limb_cost (float): Evidence against joining, per limb
            between two pieces that the PAF does not support.

    Returns:
        np.ndarray: Every piece (single peaks too), shape (M, K), the peak
        index of each keypoint, -1 where missing.
    """
    types = types.tolist()
    touching = _limbs_of_types(skeleton, num_keypoints)
    cost = float(missing_limb_cost)
    weight = limb_evidence(scores)
    order = np.argsort(-weight, kind='stable')
    weight = weight[order].tolist()
    starts, ends = starts[order].tolist(), ends[order].tolist()

    members = [[p] for p in range(len(types))]
    kinds = [1 << t for t in types]  # keypoint types of each piece
    limbs = [touching[t] for t in types]  # limbs touching each piece
    # links[a][b]: evidence of the valid candidates between pieces a and b,
    # each + cost (it is also one of the limbs counted as missing below)
    links = [dict() for _ in types]
    for s, e, w in zip(starts, ends, weight):
        links[s][e] = links[e][s] = w + cost
    single = [True] * len(types)

    def evidence(a: int, b: int) -> float:
        return links[a][b] - cost * (limbs[a] & limbs[b]).bit_count()

    heap = []
    next_edge = 0
    while True:
        # Two single peaks have exactly one limb between them, so their
        # evidence is the candidate's own: take those from the sorted list
        # and only changed evidence from the heap (much less heap work).
        while next_edge < len(weight) and not (single[starts[next_edge]]
                                               and single[ends[next_edge]]):
            next_edge += 1
        if next_edge < len(weight) and (not heap
                                        or weight[next_edge] > -heap[0][0]):
            if weight[next_edge] <= 0:
                next_edge = len(weight)
                continue
            a, b = starts[next_edge], ends[next_edge]
            next_edge += 1
        elif heap:
            total, a, b = heapq.heappop(heap)
            if members[a] is None or members[
                    b] is None or kinds[a] & kinds[b] or b not in links[a]:
                continue
            now = evidence(a, b)
            if now != -total:
                # lowered by a join since (more limbs that fail): requeue
                if now > 0:
                    heapq.heappush(heap, (-now, a, b))
                continue
        else:
            break
        if kinds[a] & kinds[b]:
            continue
        if len(members[a]) < len(members[b]):
            a, b = b, a
        members[a] += members[b]
        members[b] = None
        kinds[a] |= kinds[b]
        limbs[a] |= limbs[b]
        links_a = links[a]
        del links_a[b]
        # Queue the evidence that may have grown (b's neighbours) and, for a
        # single peak, the links the sorted list no longer serves. Evidence
        # between a and its other neighbours can only have dropped (more
        # missing limbs): their queued entries are corrected when they
        # come up.
        changed = list(links_a) if single[a] else []
        single[a] = single[b] = False
        for n, w in links[b].items():
            if n != a:
                links_n = links[n]
                del links_n[b]
                links_a[n] = links_n[a] = links_a.get(n, 0.) + w
                changed.append(n)
        links[b] = None
        for n in changed:
            if not kinds[a] & kinds[n]:
                total = evidence(a, n)
                if total > 0:
                    heapq.heappush(heap, (-total, a, n))
    return _to_people(members, types, num_keypoints)


def share_coincident_peaks(people: np.ndarray, starts: np.ndarray,
                           ends: np.ndarray, scores: np.ndarray,
                           types: np.ndarray, skeleton: Sequence[Tuple[int,
                                                                       int]],
                           missing_limb_cost: float,
                           min_keypoints: int) -> np.ndarray:
    """Give each person the peaks of the types it lacks that its limbs
    lead to, even when another person holds them.

    Two keypoints of one type closer than about a map pixel give one peak;
    both people's limbs lead to it, but :func:`cluster_people` gives it to
    one. A person (with at least ``min_keypoints`` keypoints) repeatedly
    takes the peak of a missing type with the largest positive evidence
    from its keypoints (as in :func:`cluster_people`), so that a person
    standing almost in front of another is found whole from its few
    separate keypoints.

    Args:
        people (np.ndarray): Shape (M, K), peak index per keypoint, -1
            where missing.
        starts, ends, scores (np.ndarray): The valid limb candidates, (C, ).
        types (np.ndarray): Keypoint type of every peak, (P, ).
        skeleton (Sequence[tuple]): The limbs as (start, end) types.
        missing_limb_cost (float): As in :func:`cluster_people`.
        min_keypoints (int): Only people with this many keypoints take
            shared peaks.

    Returns:
        np.ndarray: The people, shape (M, K), with the shared peaks.
    """
    M, K = people.shape
    touching = _limbs_of_types(skeleton, K)
    types = types.tolist()
    links = [dict() for _ in types]
    for s, e, w in zip(starts.tolist(), ends.tolist(),
                       limb_evidence(scores).tolist()):
        links[s][e] = links[e][s] = w
    people = people.copy()
    for row in people:
        if (row >= 0).sum() < min_keypoints:
            continue
        while True:
            have = row[row >= 0].tolist()
            limbs = 0
            for p in have:
                limbs |= touching[types[p]]
            evidence, supported = {}, {}
            for p in have:
                for q, w in links[p].items():
                    if row[types[q]] < 0:
                        evidence[q] = evidence.get(q, 0.) + w
                        supported[q] = supported.get(q, 0) + 1
            best, best_total = -1, 0.
            for q, w in evidence.items():
                missing = (limbs & touching[types[q]]).bit_count() - \
                    supported[q]
                total = w - missing_limb_cost * missing
                if total > best_total:
                    best, best_total = q, total
            if best < 0:
                break
            row[types[best]] = best
    return people
