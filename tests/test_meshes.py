"""Icosahedral sphere and circle meshes: counts, geometry, orientation."""

import numpy as np
import pytest

from meshes.circle import circle_arrays, create_circle
from meshes.dolfinx_compat import geometry_dofmap
from meshes.icosahedral import create_icosahedral_sphere, icosahedral_sphere_arrays


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_icosahedral_counts(level):
    points, cells = icosahedral_sphere_arrays(level)
    assert len(cells) == 20 * 4**level
    assert len(points) == 10 * 4**level + 2


@pytest.mark.parametrize("level", [0, 2, 4])
def test_icosahedral_vertices_on_sphere(level):
    points, _ = icosahedral_sphere_arrays(level)
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)


@pytest.mark.parametrize("level", [0, 3])
def test_icosahedral_closed_surface(level):
    _, cells = icosahedral_sphere_arrays(level)
    edges = np.sort(np.concatenate([cells[:, [0, 1]], cells[:, [1, 2]], cells[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2)


def test_icosahedral_area_converges_quadratically():
    errors = []
    for level in range(2, 6):
        points, cells = icosahedral_sphere_arrays(level)
        a, b, c = (points[cells[:, i]] for i in range(3))
        area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum()
        errors.append(4 * np.pi - area)
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    assert np.all(np.array(errors) > 0), "flat triangles lie inside the sphere"
    assert np.all(np.abs(ratios - 4.0) < 0.1), ratios


def test_icosahedral_level_out_of_range():
    with pytest.raises(ValueError, match="refinement level"):
        icosahedral_sphere_arrays(11)


def test_distributed_sphere_outward(comm):
    msh = create_icosahedral_sphere(comm, 2)
    num_owned = msh.topology.index_map(2).size_local
    corners = msh.geometry.x[geometry_dofmap(msh)[:num_owned]]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outward = np.einsum("ij,ij->i", normals, corners.sum(axis=1))
    assert np.all(outward > 0)
    assert comm.allreduce(num_owned) == 320


def test_circle_arrays():
    points, cells = circle_arrays(12)
    assert np.allclose(np.linalg.norm(points, axis=1), 1.0)
    lengths = np.linalg.norm(points[cells[:, 1]] - points[cells[:, 0]], axis=1)
    assert np.allclose(lengths, 2 * np.sin(np.pi / 12))
    assert cells[-1, 1] == 0


def test_distributed_circle(comm):
    msh = create_circle(comm, 64)
    assert comm.allreduce(msh.topology.index_map(1).size_local) == 64
    assert msh.topology.dim == 1
