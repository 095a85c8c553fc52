"""Experiment settings: YAML in, typed and validated dataclasses out.

Every value is checked before anything is computed or written. An invalid
value raises ConfigError with the dotted key, the value and what is allowed;
a misspelled key gets a "did you mean" hint. This module does not import
DOLFINx or MPI, so it loads fast and is usable anywhere.
"""

import difflib
import math
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import yaml

SPHERES = {"S1": 2, "S2": 3}
"""Supported spheres and the dimension d of the space R^d they live in."""

DEFAULT_PETSC_OPTIONS = {
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
}


_YAML11_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

MAX_STEPS = 10_000_000
"""Largest number of time steps a run may take without an explicit time.max_steps."""

MAX_KERNEL_EXPONENT = 700.0
"""Largest beta * ||A|| where exp(beta ||A||) and the energy stay finite in double precision."""

MAX_MODE_DEGREE = 80
"""Largest degree of a perturbation mode (the harmonics' normalization stays finite)."""

MAX_SEGMENTS = 10_000_000
"""Largest number of circle segments."""


class ConfigError(ValueError):
    """An invalid experiment configuration; the message names the key and the fix."""


@dataclass
class MeshSettings:
    """Sphere and mesh resolution."""

    sphere: str = "S2"
    level: int = 4
    segments: int = 256
    file: str | None = None


@dataclass
class ModelSettings:
    """Attention matrices, temperature, normalization, direction and noise.

    Matrices stay as given in the YAML (a name, a number, a diagonal or a full
    matrix), so the resolved config reads like the input. ``matrices`` turns
    them into arrays.
    """

    beta: float = 1.0
    D: object = None
    A: object = None
    V: object = None
    Q: object = None
    K: object = None
    normalization: str = "softmax"
    direction: str = "ascent"
    diffusion: float = 0.0


@dataclass
class PerturbationSettings:
    """Relative perturbation rho_uniform * (1 + amplitude * f) with max |f| = 1."""

    kind: str = "none"
    amplitude: float = 0.01
    seed: int = 0
    degree: int = 4
    l: int = 1  # noqa: E741 (the degree of a spherical harmonic is called l)
    m: int = 0


@dataclass
class BumpSettings:
    """One von Mises-Fisher bump exp(concentration * direction . x), weighted."""

    direction: list = field(default_factory=lambda: [0.0, 0.0, 1.0])
    concentration: float = 10.0
    weight: float = 1.0


@dataclass
class InitialSettings:
    """Initial density, normalized to mass 1 on the discrete surface."""

    type: str = "uniform"
    perturbation: PerturbationSettings = field(default_factory=PerturbationSettings)
    bumps: list = field(default_factory=list)
    file: str | None = None


@dataclass
class TimeSettings:
    """Time step, end time and stopping rules."""

    dt: float = 0.1
    t_end: float = 1.0
    max_steps: int | None = None
    steady_tolerance: float = 0.0


@dataclass
class OutputSettings:
    """Results directory, output frequency and file formats."""

    directory: str = "results/default"
    every: int = 10
    format: str = "both"


@dataclass
class InteractionSettings:
    """Method and accuracy of the interaction sums Z and H."""

    method: str = "auto"
    tolerance: float = 1e-10


@dataclass
class SolverSettings:
    """PETSc options of the transport solve (prefix attnflow_transport_)."""

    petsc_options: dict = field(default_factory=lambda: dict(DEFAULT_PETSC_OPTIONS))


@dataclass
class Settings:
    """A whole experiment."""

    mesh: MeshSettings = field(default_factory=MeshSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    initial: InitialSettings = field(default_factory=InitialSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    interaction: InteractionSettings = field(default_factory=InteractionSettings)
    solver: SolverSettings = field(default_factory=SolverSettings)

    @property
    def dimension(self) -> int:
        """Dimension d of the space R^d that contains the sphere."""
        return SPHERES[self.mesh.sphere]

    def to_dict(self) -> dict:
        """Return the settings as plain YAML-ready data, every default filled in."""
        return asdict(self)


# ---------------------------------------------------------------------------
# Generic checks


def _fail(key: str, value, allowed: str):
    raise ConfigError(f"invalid value {value!r} for '{key}': expected {allowed}")


def _number(key, value, *, minimum=None, positive=False, integer=False, maximum=None):
    kind = "an integer" if integer else "a number"
    if isinstance(value, str) and _YAML11_NUMBER.fullmatch(value.strip()):
        # YAML 1.1 (PyYAML) reads 1e-3 and 1e6, without a dot or a signed exponent, as
        # strings; take them as the numbers their authors meant.
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(key, value, kind)
    try:
        as_float = float(value)
    except OverflowError:
        _fail(key, value, f"{kind} of at most 1e308 in magnitude")
    if not math.isfinite(as_float):
        _fail(key, value, "a finite number")
    if integer and not as_float.is_integer():
        _fail(key, value, "an integer")
    if maximum is not None and value > maximum:
        _fail(key, value, f"{kind} <= {maximum:g}")
    if positive and value <= 0:
        _fail(key, value, "a positive number")
    if minimum is not None and value < minimum:
        _fail(key, value, f"a number >= {minimum}")
    return int(value) if integer else float(value)


def _choice(key, value, choices):
    if not isinstance(value, str) or value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
        _fail(key, value, "one of " + ", ".join(repr(c) for c in choices) + suffix)
    return value


def _build(cls, data, prefix: str):
    """Create dataclass cls from a mapping, rejecting unknown keys."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"invalid value {data!r} for '{prefix}': expected a mapping of keys")
    known = [f.name for f in fields(cls)]
    for key in data:
        if key not in known:
            hint = difflib.get_close_matches(str(key), known, n=1)
            suffix = f"; did you mean '{hint[0]}'?" if hint else ""
            allowed = ", ".join(known)
            name = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"unknown key '{name}'{suffix} (allowed keys: {allowed})")
    return cls(**data)


# ---------------------------------------------------------------------------
# Attention matrices


MAX_MATRIX_ENTRY = 1e6
"""Largest magnitude of a matrix entry; scale beta instead of the matrices beyond it."""


def _entry(key: str, value) -> float:
    number = _number(key, value)
    if abs(number) > MAX_MATRIX_ENTRY:
        _fail(key, value, f"entries of magnitude at most {MAX_MATRIX_ENTRY:g} "
                          "(put the scale into model.beta)")
    return number


def parse_matrix(key: str, spec, dim: int) -> np.ndarray:
    """Turn a matrix spec into a (dim, dim) array.

    A spec is "identity", a number c (c times the identity), a list of dim
    numbers (a diagonal) or a list of dim rows of dim numbers.
    """
    if isinstance(spec, str):
        if spec != "identity":
            _fail(key, spec, "'identity', a number, a diagonal list or a full matrix")
        return np.eye(dim)
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return _entry(key, spec) * np.eye(dim)
    if isinstance(spec, list) and spec and all(isinstance(row, list) for row in spec):
        if len(spec) != dim or any(len(row) != dim for row in spec):
            _fail(key, spec, f"a {dim} x {dim} matrix for a sphere in R^{dim}")
        return np.array([[_entry(key, v) for v in row] for row in spec])
    if isinstance(spec, list):
        if len(spec) != dim:
            _fail(key, spec, f"a diagonal of {dim} numbers for a sphere in R^{dim}")
        return np.diag([_entry(key, v) for v in spec])
    _fail(key, spec, "'identity', a number, a diagonal list or a full matrix")


def matrices(model: ModelSettings, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the query-key matrix A and the value matrix V of a validated model."""
    if model.D is not None:
        D = parse_matrix("model.D", model.D, dim)
        return D, D
    V = parse_matrix("model.V", model.V, dim)
    if model.A is not None:
        return parse_matrix("model.A", model.A, dim), V
    Q = parse_matrix("model.Q", model.Q, dim)
    K = parse_matrix("model.K", model.K, dim)
    return Q.T @ K, V


def _check_model(model: ModelSettings, dim: int):
    model.beta = _number("model.beta", model.beta, positive=True)
    model.diffusion = _number("model.diffusion", model.diffusion, minimum=0.0)
    _choice("model.normalization", model.normalization, ["softmax", "none"])
    _choice("model.direction", model.direction, ["ascent", "descent"])

    general = [name for name in ("A", "V", "Q", "K") if getattr(model, name) is not None]
    if model.D is None and not general:
        model.D = "identity"
    if model.D is not None and general:
        raise ConfigError(
            "conflicting keys: give either 'model.D' (A = V = D) or the general matrices "
            f"{', '.join('model.' + n for n in general)}, not both"
        )
    if model.D is not None:
        D = parse_matrix("model.D", model.D, dim)
        if not np.allclose(D, D.T, rtol=0, atol=1e-14 * max(1.0, np.abs(D).max())):
            _fail("model.D", model.D, "a symmetric matrix (use model.A and model.V otherwise)")
        _check_exponent(model, D, "model.D", energy=True)
        return
    if model.V is None:
        raise ConfigError("missing key 'model.V': general attention needs a value matrix V")
    if model.A is not None and (model.Q is not None or model.K is not None):
        raise ConfigError("conflicting keys: give 'model.A' or 'model.Q' with 'model.K', not both")
    if model.A is None and (model.Q is None or model.K is None):
        raise ConfigError(
            "missing key: general attention needs 'model.A' or both 'model.Q' and 'model.K'"
        )
    A, V = matrices(model, dim)
    _check_exponent(model, A, "model.A", energy=np.array_equal(A, V) and np.array_equal(A, A.T))


def _check_exponent(model: ModelSettings, A: np.ndarray, key: str, energy: bool):
    """Reject beta ||A|| where exp(beta ||A||) overflows in a quantity the run reports."""
    exponent = model.beta * float(np.linalg.norm(A, 2))
    if not np.isfinite(exponent):
        _fail(key, getattr(model, key.split(".")[1]), "a matrix with finite beta * ||A||")
    if exponent > MAX_KERNEL_EXPONENT and (energy or model.normalization == "none"):
        quantity = "the energy" if energy else "the unnormalized velocity"
        raise ConfigError(
            f"model.beta * ||{key.split('.')[1]}|| = {exponent:.4g} exceeds "
            f"{MAX_KERNEL_EXPONENT:g}, where exp(beta ||A||) overflows in {quantity}; "
            "lower model.beta or scale the matrices"
        )


# ---------------------------------------------------------------------------
# Sections


def _check_mesh(mesh: MeshSettings):
    if not isinstance(mesh.sphere, str) or mesh.sphere not in SPHERES:
        _fail(
            "mesh.sphere", mesh.sphere,
            "'S1' or 'S2' (the PDE is solved on the circle S^1 and the sphere S^2 only)",
        )
    mesh.level = _number("mesh.level", mesh.level, minimum=0, integer=True)
    if mesh.level > 10:
        _fail("mesh.level", mesh.level, "an integer from 0 to 10")
    mesh.segments = _number("mesh.segments", mesh.segments, minimum=3, integer=True,
                            maximum=MAX_SEGMENTS)
    if mesh.file is not None and (not isinstance(mesh.file, str) or not mesh.file):
        _fail("mesh.file", mesh.file, "the path of a mesh file")
    if mesh.file is not None:
        if mesh.sphere != "S2":
            _fail("mesh.file", mesh.file, "no mesh file unless mesh.sphere is 'S2'")
        if Path(mesh.file).is_dir():
            raise ConfigError(f"mesh file '{mesh.file}' is a directory; give a mesh file")
        if not Path(mesh.file).is_file():
            raise ConfigError(f"mesh file not found: '{mesh.file}' (check 'mesh.file')")
        if not os.access(mesh.file, os.R_OK):
            raise ConfigError(f"mesh file '{mesh.file}' is not readable; check its permissions")


def _check_initial(initial: InitialSettings, dim: int):
    _choice("initial.type", initial.type, ["uniform", "von_mises_fisher", "file"])
    p = initial.perturbation
    _choice("initial.perturbation.kind", p.kind, ["none", "random", "mode"])
    p.amplitude = _number("initial.perturbation.amplitude", p.amplitude, minimum=0.0)
    if p.amplitude > 1.0:
        _fail("initial.perturbation.amplitude", p.amplitude,
              "a number from 0 to 1 (larger values make the density negative)")
    p.seed = _number("initial.perturbation.seed", p.seed, minimum=0, integer=True,
                     maximum=2**63 - 1)
    p.degree = _number("initial.perturbation.degree", p.degree, minimum=1, integer=True,
                       maximum=MAX_MODE_DEGREE)
    p.l = _number("initial.perturbation.l", p.l, minimum=1, integer=True,
                  maximum=MAX_MODE_DEGREE)
    p.m = _number("initial.perturbation.m", p.m, integer=True)
    if abs(p.m) > (p.l if dim == 3 else 1):
        allowed = f"an integer from -{p.l} to {p.l}" if dim == 3 else "-1 (sine) 0 or 1 (cosine)"
        _fail("initial.perturbation.m", p.m, allowed)

    if initial.type == "von_mises_fisher" and not initial.bumps:
        raise ConfigError("missing key 'initial.bumps': a von_mises_fisher density needs a list "
                          "of bumps, each with direction, concentration and weight")
    if not isinstance(initial.bumps, list):
        _fail("initial.bumps", initial.bumps, "a list of bumps")
    bumps = []
    for i, data in enumerate(initial.bumps):
        key = f"initial.bumps[{i}]"
        bump = _build(BumpSettings, data, key)
        direction = bump.direction
        if not isinstance(direction, list) or len(direction) != dim:
            _fail(key + ".direction", direction, f"a list of {dim} numbers")
        bump.direction = [_number(key + ".direction", v) for v in direction]
        if np.linalg.norm(bump.direction) == 0:
            _fail(key + ".direction", direction, "a nonzero vector")
        bump.concentration = _number(key + ".concentration", bump.concentration, minimum=0.0)
        bump.weight = _number(key + ".weight", bump.weight, positive=True)
        bumps.append(bump)
    initial.bumps = bumps

    if initial.file is not None and (not isinstance(initial.file, str) or not initial.file):
        _fail("initial.file", initial.file, "the path of a checkpoint.npz or results directory")
    if initial.file is not None and initial.type != "file":
        raise ConfigError(f"'initial.file' is set but initial.type is '{initial.type}'; "
                          "set initial.type to 'file' or remove initial.file")
    if initial.bumps and initial.type != "von_mises_fisher":
        raise ConfigError(f"'initial.bumps' is set but initial.type is '{initial.type}'; "
                          "set initial.type to 'von_mises_fisher' or remove initial.bumps")
    if initial.type == "file":
        if initial.file is None:
            raise ConfigError("missing key 'initial.file': initial type 'file' reads a density "
                              "from an earlier result")
        if not Path(initial.file).exists():
            raise ConfigError(f"initial density file not found: '{initial.file}' "
                              "(check 'initial.file': a checkpoint.npz or a results directory)")


def _check_time(time: TimeSettings):
    time.dt = _number("time.dt", time.dt, positive=True)
    time.t_end = _number("time.t_end", time.t_end, positive=True)
    if time.max_steps is not None:
        time.max_steps = _number("time.max_steps", time.max_steps, minimum=1, integer=True)
    time.steady_tolerance = _number("time.steady_tolerance", time.steady_tolerance, minimum=0.0)
    steps = time.t_end / time.dt
    if time.max_steps is None and steps > MAX_STEPS:
        raise ConfigError(
            f"time.t_end / time.dt = {steps:.3g} steps exceeds {MAX_STEPS}; "
            "raise time.dt, lower time.t_end or set time.max_steps"
        )


def _check_output(output: OutputSettings):
    if not isinstance(output.directory, str) or not output.directory:
        _fail("output.directory", output.directory, "a directory path")
    output.every = _number("output.every", output.every, minimum=1, integer=True)
    _choice("output.format", output.format, ["vtk", "xdmf", "both"])


def _check_solver(solver: SolverSettings):
    if not isinstance(solver.petsc_options, dict):
        _fail("solver.petsc_options", solver.petsc_options, "a mapping of PETSc options")
    options = dict(DEFAULT_PETSC_OPTIONS)
    for key, value in solver.petsc_options.items():
        if not isinstance(key, str) or value is None or isinstance(value, (dict, list)):
            _fail(f"solver.petsc_options.{key}", value, "a PETSc option name and a scalar value "
                  "(\"\" for an option without a value)")
        if key.startswith("-") or key.startswith("attnflow_transport_"):
            _fail(f"solver.petsc_options.{key}", value,
                  "an option name without '-' and without the prefix attnflow_transport_")
        options[key] = value
    solver.petsc_options = options


# ---------------------------------------------------------------------------
# Entry points


def settings_from_dict(data: dict) -> Settings:
    """Validate a mapping (as read from YAML) and return complete settings."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("invalid config: expected a mapping of sections at the top level")
    _build(Settings, data, "")  # rejects unknown sections
    initial = _build(InitialSettings, data.get("initial"), "initial")
    initial.perturbation = _build(
        PerturbationSettings, data["initial"].get("perturbation"), "initial.perturbation"
    ) if data.get("initial") else PerturbationSettings()
    settings = Settings(
        mesh=_build(MeshSettings, data.get("mesh"), "mesh"),
        model=_build(ModelSettings, data.get("model"), "model"),
        initial=initial,
        time=_build(TimeSettings, data.get("time"), "time"),
        output=_build(OutputSettings, data.get("output"), "output"),
        interaction=_build(InteractionSettings, data.get("interaction"), "interaction"),
        solver=_build(SolverSettings, data.get("solver"), "solver"),
    )

    _check_mesh(settings.mesh)
    _reject_unused(settings)
    dim = settings.dimension
    _check_model(settings.model, dim)
    _check_initial(settings.initial, dim)
    _check_time(settings.time)
    _check_output(settings.output)
    _choice("interaction.method", settings.interaction.method, ["auto", "direct", "spectral"])
    settings.interaction.tolerance = _number(
        "interaction.tolerance", settings.interaction.tolerance, positive=True
    )
    if not 1e-12 <= settings.interaction.tolerance <= 1e-2:
        _fail("interaction.tolerance", settings.interaction.tolerance,
              "a number from 1e-12 (the accuracy limit of the transforms) to 1e-2")
    _check_solver(settings.solver)
    return settings


def _reject_unused(settings: Settings):
    """Reject keys set to a non-default value that the rest of the settings make unused.

    Defaults pass, so a resolved config.yaml (which lists every key) loads again.
    """
    mesh, defaults = settings.mesh, MeshSettings()
    unused = []
    if mesh.sphere == "S2" and mesh.segments != defaults.segments:
        unused.append(("mesh.segments", "mesh.sphere is 'S2' (segments apply to S1)"))
    if mesh.sphere == "S1" and mesh.level != defaults.level:
        unused.append(("mesh.level", "mesh.sphere is 'S1' (levels apply to S2)"))
    if mesh.file is not None and mesh.level != defaults.level:
        unused.append(("mesh.level", "mesh.file is set"))
    perturbation = settings.initial.perturbation
    if perturbation.kind == "none" and perturbation.amplitude != PerturbationSettings().amplitude:
        unused.append(("initial.perturbation.amplitude",
                       "initial.perturbation.kind is 'none' (set it to 'random' or 'mode')"))
    if unused:
        key, reason = unused[0]
        raise ConfigError(f"'{key}' is set but unused because {reason}; remove it")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"duplicate key '{key}' at line {key_node.start_mark.line + 1}; "
                                  "give each key once")
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_settings(path) -> Settings:
    """Read and validate a YAML experiment file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file '{path}' is a directory; give a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file not found: '{path}'")
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except ConfigError as error:
        raise ConfigError(f"invalid config '{path}': {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"invalid YAML in '{path}'{where}: fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"invalid config file '{path}': not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file '{path}': {error.strerror}") from None
    except RecursionError:
        raise ConfigError(f"invalid config '{path}': nested too deeply") from None
    return settings_from_dict(data)


def dump_settings(settings: Settings) -> str:
    """Return the resolved settings as YAML text."""
    return yaml.safe_dump(settings.to_dict(), sort_keys=False)
