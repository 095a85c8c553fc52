"""Settings: defaults, matrix specs, and the messages of invalid input."""

import numpy as np
import pytest
import yaml

from solver.config import (
    ConfigError,
    dump_settings,
    load_settings,
    matrices,
    parse_matrix,
    settings_from_dict,
)


def test_defaults_resolve():
    settings = settings_from_dict({})
    assert settings.mesh.sphere == "S2"
    assert settings.model.D == "identity"
    assert settings.dimension == 3
    assert settings.solver.petsc_options["ksp_type"] == "preonly"


def test_resolved_config_round_trip(tmp_path):
    settings = settings_from_dict({"model": {"beta": 3.0, "D": [1, 2, 3]},
                                   "initial": {"type": "von_mises_fisher",
                                               "bumps": [{"direction": [1, 0, 0]}]}})
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_settings(settings))
    assert load_settings(path) == settings


@pytest.mark.parametrize("spec, expected", [
    ("identity", np.eye(3)),
    (2.5, 2.5 * np.eye(3)),
    ([1, 3, 4], np.diag([1.0, 3.0, 4.0])),
    ([[1, 2, 0], [0, 1, 0], [0, 0, 1]], np.array([[1, 2, 0], [0, 1, 0], [0, 0, 1.0]])),
])
def test_parse_matrix(spec, expected):
    assert np.array_equal(parse_matrix("model.A", spec, 3), expected)


def test_query_key_product():
    settings = settings_from_dict({"model": {"Q": [[1, 2], [3, 4]], "K": [1, -1],
                                             "V": "identity"},
                                   "mesh": {"sphere": "S1"}})
    A, V = matrices(settings.model, 2)
    assert np.array_equal(A, np.array([[1, 2], [3, 4]]).T @ np.diag([1, -1]))
    assert np.array_equal(V, np.eye(2))


INVALID = [
    ({"mesh": {"sphere": "S3"}}, "the PDE is solved on the circle S^1 and the sphere S^2"),
    ({"mesh": {"levl": 3}}, "did you mean 'level'"),
    ({"mesh": {"level": 2.5}}, "'mesh.level': expected an integer"),
    ({"mesh": {"level": 11}}, "from 0 to 10"),
    ({"mdl": {}}, "unknown key 'mdl'; did you mean 'model'"),
    ({"model": {"beta": 0}}, "'model.beta': expected a positive number"),
    ({"model": {"beta": "hot"}}, "'model.beta': expected a number"),
    ({"model": {"beta": True}}, "'model.beta': expected a number"),
    ({"model": {"D": "identiy"}}, "'model.D'"),
    ({"model": {"D": [[1, 2], [3, 4]]}}, "3 x 3 matrix"),
    ({"model": {"D": [[1, 2, 0], [0, 1, 0], [0, 0, 1]]}}, "symmetric"),
    ({"model": {"D": 1, "A": 1}}, "conflicting keys"),
    ({"model": {"A": 1}}, "missing key 'model.V'"),
    ({"model": {"V": 1, "Q": 1}}, "'model.Q' and 'model.K'"),
    ({"model": {"normalization": "softmx"}}, "did you mean 'softmax'"),
    ({"model": {"direction": "up"}}, "'model.direction'"),
    ({"model": {"diffusion": -0.1}}, "'model.diffusion': expected a number >= 0.0"),
    ({"initial": {"type": "von_mises_fisher"}}, "missing key 'initial.bumps'"),
    ({"initial": {"type": "von_mises_fisher", "bumps": [{"direction": [0, 0]}]}},
     "initial.bumps[0].direction"),
    ({"initial": {"type": "von_mises_fisher", "bumps": [{"direction": [0, 0, 0]}]}},
     "a nonzero vector"),
    ({"initial": {"perturbation": {"kind": "random", "amplitude": 1.5}}},
     "larger values make the density negative"),
    ({"initial": {"perturbation": {"amplitude": 0.5}}},
     "'initial.perturbation.amplitude' is set but unused"),
    ({"initial": {"perturbation": {"kind": "mode", "l": 81}}}, "<= 80"),
    ({"initial": {"file": "x.npz"}}, "'initial.file' is set but initial.type is 'uniform'"),
    ({"initial": {"bumps": [{"direction": [0, 0, 1]}]}}, "'initial.bumps' is set but"),
    ({"mesh": {"segments": 100}}, "'mesh.segments' is set but unused"),
    ({"mesh": {"sphere": "S1", "level": 3}}, "'mesh.level' is set but unused"),
    ({"mesh": {"sphere": "S1", "segments": 10**30}}, "'mesh.segments'"),
    ({"mesh": {"sphere": ["S2"]}}, "'mesh.sphere'"),
    ({"mesh": {"file": 5}}, "the path of a mesh file"),
    ({"model": {"beta": 10**400}}, "at most 1e308"),
    ({"model": {"beta": 800.0}}, "exceeds 700"),
    ({"model": {"D": 1.0e300}}, "at most 1e+06"),
    ({"model": {"beta": 1e-300, "D": [[1e300, 0, 0], [0, 1, 0], [0, 0, 1]]}}, "at most 1e+06"),
    ({"model": {"beta": 800.0, "normalization": "none", "A": 1.0, "V": 2.0}}, "unnormalized"),
    ({"time": {"dt": 1.0e-300}}, "exceeds 10000000"),
    ({"solver": {"petsc_options": {"ksp_rtol": None}}}, "solver.petsc_options.ksp_rtol"),
    ({"solver": {"petsc_options": {"attnflow_transport_ksp_type": "cg"}}}, "without the prefix"),
    ({"initial": {"perturbation": {"kind": "mode", "l": 2, "m": 3}}}, "from -2 to 2"),
    ({"initial": {"type": "file"}}, "missing key 'initial.file'"),
    ({"time": {"dt": 0}}, "'time.dt'"),
    ({"time": {"t_end": float("inf")}}, "a finite number"),
    ({"time": {"max_steps": 0}}, "'time.max_steps'"),
    ({"output": {"every": 0}}, "'output.every'"),
    ({"output": {"format": "vtu"}}, "did you mean 'vtk'"),
    ({"interaction": {"method": "fast"}}, "'interaction.method'"),
    ({"solver": {"petsc_options": {"ksp_type": ["gmres"]}}}, "solver.petsc_options.ksp_type"),
    ({"model": "beta 1"}, "'model': expected a mapping"),
]


@pytest.mark.parametrize("data, message", INVALID, ids=[str(i) for i in range(len(INVALID))])
def test_invalid_settings(data, message):
    with pytest.raises(ConfigError) as error:
        settings_from_dict(data)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_top_level_must_be_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_settings(path)


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_settings(path) == settings_from_dict({})


def test_binary_file_rejected(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="not UTF-8|invalid YAML"):
        load_settings(path)


def test_yaml11_exponent_numbers_accepted():
    settings = settings_from_dict({"time": {"dt": "1e-3", "t_end": "2E0"},
                                   "interaction": {"tolerance": "1e-8"}})
    assert settings.time.dt == 1e-3
    assert settings.time.t_end == 2.0
    assert settings.interaction.tolerance == 1e-8


def test_large_beta_allowed_for_softmax_general(tmp_path):
    settings = settings_from_dict({"model": {"beta": 800.0, "A": 1.0, "V": 2.0}})
    assert settings.model.beta == 800.0


def test_duplicate_key_rejected(tmp_path):
    path = tmp_path / "duplicate.yaml"
    path.write_text("mesh: {level: 1, level: 2}\n")
    with pytest.raises(ConfigError, match="duplicate key 'level' at line 1"):
        load_settings(path)


def test_directory_as_config_rejected(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path)


def test_deep_nesting_rejected(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("model: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError):
        load_settings(path)
