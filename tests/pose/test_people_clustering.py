"""Unit tests of the PAF decoder's grouping into people
(``pose/codecs/utils/people_clustering.py``) on hand-made limb candidates
whose outcome is worked out by hand. (Overlapping people from a decoded
crowd: tests/pose/test_paf_overlap.py.)"""
import numpy as np

from selecsls_mm.pose.codecs.utils.people_clustering import (
    cluster_people, limb_evidence, share_coincident_peaks)

# two limbs: 0 - 1 and 1 - 2
CHAIN = [(0, 1), (1, 2)]


def groups(people):
    """The people as sorted tuples of their peaks."""
    return sorted(tuple(sorted(p for p in row if p >= 0)) for row in people)


def cluster(candidates, types, skeleton=CHAIN, cost=2.0):
    starts, ends, scores = (np.array(c) for c in zip(*candidates))
    return cluster_people(starts, ends, scores.astype(float), np.array(types),
                          skeleton,
                          max(max(s) for s in skeleton) + 1, cost)


def test_limb_evidence_is_minus_log_of_one_minus_score():
    scores = np.array([-0.5, 0., 0.5, 0.9, 1.], np.float32)
    got = limb_evidence(scores)
    # in float64 from the float32 scores (0.9 is 0.89999998 there)
    assert got.dtype == np.float64
    expected = -np.log1p(-np.clip(scores.astype(np.float64), 0, 1 - 1e-6))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(
        got, [0., 0., np.log(2), np.log(10), -np.log(1e-6)], rtol=1e-6)


def test_a_weak_limb_joins_and_a_zero_one_does_not():
    # evidence of 0.3: -log(0.7) = 0.36, small but positive
    people = cluster([(0, 1, 0.3), (2, 3, 0.0)], [0, 1, 0, 1])
    assert people.dtype == np.intp
    assert groups(people) == [(0, 1), (2, ), (3, )]
    # every piece has its peak in the slot of its type, -1 elsewhere
    assert sorted(map(tuple, people.tolist())) == [(-1, 3, -1), (0, 1, -1),
                                                   (2, -1, -1)]


def test_pieces_sharing_a_type_are_never_joined():
    # peaks 0 and 2 are both type 0: the second limb would give one person
    # two type-0 keypoints
    people = cluster([(0, 1, 0.9), (2, 1, 0.8)], [0, 1, 0])
    assert groups(people) == [(0, 1), (2, )]


def test_a_missing_limb_counts_against_a_join():
    # a triangle of limbs; peaks 0-1 and 2 are joined through the 1-2 limb
    # only when its evidence beats the cost of the failed 0-2 limb
    skeleton = [(0, 1), (1, 2), (0, 2)]
    strong = cluster([(0, 1, 0.99), (1, 2, 0.95)], [0, 1, 2], skeleton)
    assert groups(strong) == [(0, 1, 2)]  # log(20) = 3.0 > cost 2
    weak = cluster([(0, 1, 0.99), (1, 2, 0.8)], [0, 1, 2], skeleton)
    assert groups(weak) == [(0, 1), (2, )]  # log(5) = 1.6 < cost 2


def test_evidence_lowered_by_a_join_is_queued_again():
    # four types, every pair a limb; peak 0 (type 0) has limbs to peaks
    # 2 (type 1, score .91), 3 (type 2, .82) and 1 (type 3, .81); cost .5.
    # Peak 2 joins first; peak 1 is queued at log(1/.19) + .5 - 2 * .5 =
    # 1.16 (two limbs between {0, 1} and {3}), peak 3 at 1.22 joins next,
    # which lowers peak 1's evidence to 1.66 + .5 - 3 * .5 = 0.66: still
    # positive, so it is queued again and joins
    people = cluster([(0, 1, 0.81), (0, 2, 0.91), (0, 3, 0.82)], [0, 3, 1, 2],
                     skeleton=[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)],
                     cost=0.5)
    assert groups(people) == [(0, 1, 2, 3)]


def test_equal_evidence_goes_to_the_earlier_candidate():
    # peak 0 (type 0) has equally good limbs to twenty type-1 peaks; limbs
    # of other scores between other peaks are shuffled in, so that sorting
    # must keep ties in their order to give 0 the first of them
    rng = np.random.default_rng(0)
    types = [0] + [1] * 20 + [1, 2] * 20
    cands = [(0, 1 + i, 0.5) for i in range(20)]
    cands += [(21 + 2 * i, 22 + 2 * i, s)
              for i, s in enumerate(rng.uniform(0.1, 0.9, 20))]
    cands = [cands[i] for i in rng.permutation(len(cands))]
    first = next(e for s, e, _ in cands if s == 0)
    people = cluster(cands, types)
    assert (0, first) in groups(people)
    assert len(people) == 1 + 19 + 20  # the other limbs join their pairs


def test_no_peaks_no_people():
    people = cluster_people(*(np.zeros(0, int), ) * 2, np.zeros(0),
                            np.zeros(0, int), CHAIN, 3, 2.0)
    assert people.shape == (0, 3) and people.dtype == np.intp


def test_a_person_takes_a_peak_it_shares_with_another():
    # peaks: 0, 1 (types 0, 1) one person; 3 (type 1) another person; peak
    # 2 (type 2) is both people's (two coincident keypoints), clustered
    # into the first; the second takes it too, as its limb leads there
    types = np.array([0, 1, 2, 1])
    people = np.array([[0, 1, 2], [-1, 3, -1]])
    starts, ends = np.array([0, 1, 3]), np.array([1, 2, 2])
    scores = np.array([0.9, 0.9, 0.8])
    shared = share_coincident_peaks(people, starts, ends, scores, types, CHAIN,
                                    2.0, 1)
    assert shared.tolist() == [[0, 1, 2], [-1, 3, 2]]
    assert people.tolist() == [[0, 1, 2], [-1, 3, -1]]  # input untouched
    # the same with the peaks renumbered: the second person's own peak is
    # peak 0 (a valid index, not a missing one)
    shared = share_coincident_peaks(
        np.array([[1, 2, 3], [-1, 0, -1]]), np.array([1, 2, 0]),
        np.array([2, 3, 3]), scores, np.array([1, 0, 1, 2]), CHAIN, 2.0, 1)
    assert shared.tolist() == [[1, 2, 3], [-1, 0, 3]]
    # below min_keypoints a person takes nothing
    kept = share_coincident_peaks(people, starts, ends, scores, types, CHAIN,
                                  2.0, 2)
    assert kept.tolist() == people.tolist()


def test_a_shared_peak_needs_evidence_above_its_missing_limbs():
    # limbs 0 - 2 and 1 - 2: the second person (peaks 3, 4) reaches the
    # shared type-2 peak 2 by one limb only; the other counts as missing.
    # An empty row first (below min_keypoints) is passed over.
    skeleton = [(0, 2), (1, 2)]
    types = np.array([0, 1, 2, 0, 1])
    people = np.array([[-1, -1, -1], [0, 1, 2], [3, 4, -1]])
    starts, ends = np.array([0, 1, 3]), np.array([2, 2, 2])
    # evidence -log(1 - s) minus the cost 2.0: 4.6, 0.3, -0.4, -1.3
    for score, takes in ((0.99, True), (0.9, True), (0.8, False), (0.5,
                                                                   False)):
        shared = share_coincident_peaks(people, starts, ends,
                                        np.array([0.9, 0.9, score]), types,
                                        skeleton, 2.0, 1)
        assert shared[2, 2] == (2 if takes else -1), score
        assert (shared[:2] == people[:2]).all()


def naive_clustering(starts, ends, scores, types, skeleton, cost):
    """The greedy additive edge contraction by its definition: join the
    two pieces with the largest positive evidence (the valid candidates'
    ``-log(1 - s)`` between them, minus ``cost`` per skeleton limb between
    their types without a candidate) and no type in common, until none is
    left. Quadratic in everything; pieces as sets of peaks."""
    pieces = [{p} for p in range(len(types))]
    w = {}
    for s, e, v in zip(starts, ends, limb_evidence(scores)):
        w[frozenset((s, e))] = v

    def evidence(a, b):
        between = [(s, e) for s in a for e in b if frozenset((s, e)) in w]
        limbs = sum(
            1 for u, v in skeleton
            if ({u, v} & {types[p]
                          for p in a}) and ({u, v}
                                            & {types[p]
                                               for p in b}) and (u != v))
        return sum(w[frozenset(c)] for c in between) - cost * (
            limbs - len(between))

    while True:
        best = None
        for i, a in enumerate(pieces):
            for b in pieces[i + 1:]:
                if {types[p] for p in a} & {types[p] for p in b}:
                    continue
                if not any(frozenset((s, e)) in w for s in a for e in b):
                    continue
                e = evidence(a, b)
                if e > 0 and (best is None or e > best[0]):
                    best = (e, a, b)
        if best is None:
            return sorted(tuple(sorted(p)) for p in pieces)
        _, a, b = best
        pieces.remove(b)
        a |= b


def test_clustering_equals_its_definition_on_random_candidates():
    """Against :func:`naive_clustering` on random candidate graphs
    (continuous scores, so no ties; some scores and costs exactly 0)."""
    rng = np.random.default_rng(0)
    for _ in range(400):
        k = int(rng.integers(3, 6))
        skeleton = [(u, v) for u in range(k) for v in range(u + 1, k)
                    if rng.random() < 0.6]
        types = rng.integers(0, k, int(rng.integers(4, 14))).tolist()
        cands = [
            (s, e) for s in range(len(types))
            for e in range(s + 1, len(types))
            if (min(types[s], types[e]),
                max(types[s], types[e])) in skeleton and rng.random() < 0.5
        ]
        if not cands:
            continue
        scores = rng.uniform(0.05, 0.99, len(cands))
        scores[rng.random(len(cands)) < 0.1] = 0.
        cost = 0. if rng.random() < 0.2 else float(rng.uniform(0.3, 3.))
        starts, ends = (np.array(c) for c in zip(*cands))
        people = cluster_people(starts, ends, scores, np.array(types),
                                skeleton, k, cost)
        assert groups(people) == naive_clustering(starts, ends, scores, types,
                                                  skeleton, cost)
