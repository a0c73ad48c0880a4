# labkit: `make lab` to learn, `make test` to check everything. Each target sets itself up.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= smoke
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

.PHONY: lab test run data lint doctor clean help bench image mlflow

help:
	@echo "make lab                 set up .venv and open JupyterLab on notebooks/"
	@echo "make test                set up .venv and run every test (smoke-runs every lesson)"
	@echo "make run PROFILE=smoke   execute the curriculum into build/<profile>/ (smoke|full)"
	@echo "make data                pre-fetch every data set the curriculum uses"
	@echo "make bench               serving benchmark, labkit.serving vs Flask (bench/results/)"
	@echo "make mlflow              MLflow UI (experiment tracking) at http://127.0.0.1:5000"
	@echo "make image               build the serving image offline with buildah and check it (root)"
	@echo "make lint | doctor | clean"

# The environment: a venv with labkit installed editable, its dev tools and a Jupyter kernel.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "labkit needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[serve,pipelines,dev]'
	$(BIN)/python -m ipykernel install --user --name labkit --display-name "Python 3 (labkit)" >/dev/null
	@touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

test: $(STAMP)
	$(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/labkit run --profile $(PROFILE) --out build/$(PROFILE)

data: $(STAMP)
	$(BIN)/labkit data fetch

lint: $(STAMP)
	$(BIN)/ruff check labkit tests notebooks
	$(BIN)/ruff format --check labkit tests notebooks

# Requests/s and latency of the served sentiment model (bench/README.md); Flask only for this.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r bench/serving/requirements.txt
	$(BIN)/python bench/serving/bench.py

# The serving image without a registry: debootstrapped Debian base, wheels from a host-side pip
# download, buildah bud --isolation chroot, then its server is run and asked (docker/build-image.sh).
image: $(STAMP)
	PYTHON=$(BIN)/python docker/build-image.sh

MLFLOW_PORT ?= 5000
# The MLflow UI over the project's tracking store (labkit.tracking), on this machine only.
mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns.db \
		--default-artifact-root $(CURDIR)/mlartifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

doctor: $(STAMP)
	$(BIN)/labkit doctor

clean:
	rm -rf build .pytest_cache
