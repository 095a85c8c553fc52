# make run   installs what is missing, then runs experiments/default.yaml
# make test  installs what is missing, then runs the tests serially and on 2 MPI ranks
#
# Installing needs root on a machine without DOLFINx (apt-get install python3-dolfinx).

VENV := .venv
PYTHON := $(VENV)/bin/python
NP ?= 2
MPIRUN := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -n $(NP)
PYTEST_FLAGS ?= -q -p no:cacheprovider --color=no

.PHONY: setup run test test-serial test-mpi benchmark clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml .ci/setup-env
	bash .ci/setup-env

run: setup
	$(PYTHON) -m solver run experiments/default.yaml --overwrite

test: test-serial test-mpi

test-serial: setup
	$(PYTHON) -m pytest $(PYTEST_FLAGS) tests

test-mpi: setup
	$(MPIRUN) bash .ci/pytest-rank $(PYTHON) -m pytest $(PYTEST_FLAGS) tests

benchmark: setup
	$(PYTHON) benchmarks/interaction.py

clean:
	rm -rf results .pytest_cache
