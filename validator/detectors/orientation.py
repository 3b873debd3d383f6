"""A box's orientation through its turns, and how many of its faces were shown.

A box has 24 orientations: the rotations that map its six face normals onto
themselves (the rotation group of the cube). Between two steady poses (holds)
the faces detector measures the parcel's rotation from its optical flow; here
each such turn is compared with the 24 candidates, and every hold gets the face
that looks at the camera. A quarter turn about a horizontal or vertical axis
brings a neighbouring face to the front, a half turn the opposite face, a roll
about the camera axis keeps the frontal face.

Geometry decides, appearance confirms. ``fuse`` searches the sequences of
orientations (a beam search over the hidden orientation of each hold, Viterbi
style) that best explain

* each turn's measured rotation: a Gaussian in the angle between the measured
  rotation and the candidate (``sigma_deg``; held poses are seldom square to the
  camera, so a "quarter turn" between two holds measures 60-120 degrees), or no
  information at all where the turn could not be followed (a cut, a freeze, a
  flick faster than the flow can follow);
* what the holds look like to each other: two holds whose pictures match by a
  homography on many features (``same``) are one face; two well-textured holds
  that do not match at all (``different``) are likely two faces.

The count of distinct frontal faces is read from the best sequence; its
confidence is the posterior share of the sequences in the beam that give that
count (scores as log-likelihoods). A best sequence that must contradict a
strong "same face" match is a conflict (the look of the faces and their
geometry disagree): the count is not established then.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Camera axes: x right, y down, z into the scene; the frontal face's normal is -z.
_TOWARD_CAMERA = np.array([0.0, 0.0, -1.0])


def _group() -> list[np.ndarray]:
    """The 24 proper rotations of the cube: signed permutation matrices with det +1."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            m = np.zeros((3, 3))
            for i in range(3):
                m[i, perm[i]] = signs[i]
            if np.linalg.det(m) > 0:
                out.append(m)
    return out


CUBE = _group()
N_ORIENT = len(CUBE)


def _index(m: np.ndarray) -> int:
    return next(i for i, g in enumerate(CUBE) if np.allclose(g, m))


IDENTITY = _index(np.eye(3))
# COMPOSE[g, o]: the orientation after turn g from orientation o (both in camera axes).
COMPOSE = np.array([[_index(CUBE[g] @ CUBE[o]) for o in range(N_ORIENT)] for g in range(N_ORIENT)])


def _frontal(o: int) -> tuple[int, int, int]:
    """The box-local normal (one of +-x, +-y, +-z) that orientation ``o`` turns to the camera."""
    v = CUBE[o].T @ _TOWARD_CAMERA
    return round(float(v[0])), round(float(v[1])), round(float(v[2]))


_FACES = sorted({_frontal(o) for o in range(N_ORIENT)})
FRONTAL = np.array([_FACES.index(_frontal(o)) for o in range(N_ORIENT)])  # face id 0-5


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Geodesic distance of two rotations (degrees): the angle of ``a @ b.T``."""
    c = (float(np.trace(a @ b.T)) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def exp_so3(w: np.ndarray) -> np.ndarray:
    """Rotation matrix of the rotation vector ``w`` (radians), Rodrigues' formula."""
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(theta) * kx + (1.0 - np.cos(theta)) * (kx @ kx)


@dataclass(frozen=True, slots=True)
class Turn:
    """The measured rotation between two holds (camera axes) and how far to trust it."""

    rotation: np.ndarray | None  # None: not followed (a cut, a freeze, lost)
    sigma_deg: float  # spread of the measurement around the true quarter-turn multiple


@dataclass(frozen=True, slots=True)
class Fused:
    orientations: tuple[int, ...]  # per hold, an index into CUBE
    faces: tuple[int, ...]  # per hold, the frontal face id (0-5)
    count: int  # distinct frontal faces
    confidence: float  # posterior share of the beam that gives ``count``
    conflicts: int  # strong "same face" matches the best sequence contradicts
    posterior: dict[int, float]  # count -> posterior share


def fuse(
    turns: Sequence[Turn],
    same: Mapping[tuple[int, int], float],
    different: Mapping[tuple[int, int], float],
    *,
    beam: int = 400,
) -> Fused:
    """The most likely frontal face of each hold (``len(turns) + 1`` holds).

    ``same[(i, j)]`` / ``different[(i, j)]`` (i < j) are log-likelihood weights
    (nats) that holds i and j show one face / two faces; a sequence that labels
    them otherwise pays that weight.
    """
    n = len(turns) + 1
    geo = []
    for t in turns:
        if t.rotation is None:
            geo.append(np.zeros(N_ORIENT))
            continue
        d = np.array([rotation_angle_deg(t.rotation, g) for g in CUBE])
        geo.append(-(d**2) / (2.0 * t.sigma_deg**2))
    later_same: dict[int, list[tuple[int, float]]] = {}
    later_diff: dict[int, list[tuple[int, float]]] = {}
    for (i, j), w in same.items():
        later_same.setdefault(max(i, j), []).append((min(i, j), w))
    for (i, j), w in different.items():
        later_diff.setdefault(max(i, j), []).append((min(i, j), w))

    # The beam: scores (B,) and the orientation sequences (B, k), extended hold by hold
    # with the 24 turns from each, scored all at once.
    scores = np.zeros(1)
    seqs = np.full((1, 1), IDENTITY, dtype=np.int16)
    for k in range(1, n):
        nxt = COMPOSE[:, seqs[:, -1]].T  # (B, 24): the orientation each turn leads to
        faces_new = FRONTAL[nxt]
        faces_old = FRONTAL[seqs]
        cand = scores[:, None] + geo[k - 1][None, :]
        for j, w in later_same.get(k, ()):  # pay for labelling a pair against its look
            cand = cand - w * (faces_new != faces_old[:, j : j + 1])
        for j, w in later_diff.get(k, ()):
            cand = cand - w * (faces_new == faces_old[:, j : j + 1])
        flat = cand.ravel()
        keep = np.argsort(-flat, kind="stable")[:beam]
        rows, cols = np.divmod(keep, N_ORIENT)
        scores = flat[keep]
        seqs = np.concatenate((seqs[rows], nxt[rows, cols][:, None].astype(np.int16)), axis=1)
    p = np.exp(scores - scores.max())
    p /= p.sum()
    faces_all = FRONTAL[seqs]
    counts = np.array([len(set(row.tolist())) for row in faces_all])
    posterior = {int(c): float(p[counts == c].sum()) for c in np.unique(counts)}
    best = tuple(int(o) for o in seqs[0])
    faces = tuple(int(f) for f in faces_all[0])
    count = len(set(faces))
    conflicts = sum(1 for (i, j) in same if faces[i] != faces[j])
    return Fused(best, faces, count, posterior.get(count, 0.0), conflicts, posterior)
