# labkit: `make lab` to learn, `make test` to check everything. Each target sets itself up.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= smoke
BIN := $(VENV)/bin
STAMP := $(VENV)/.labkit-installed

.PHONY: lab test test-fast test-shuffled run data lint doctor clean help bench bench-soak bench-memory image learner-image mlflow lock lock-export

help:
	@echo "make lab                 set up .venv and open JupyterLab on notebooks/"
	@echo "make test                set up .venv and run every test (smoke-runs every lesson)"
	@echo "make test-fast           the unit tests only: no lesson runs, no image builds (minutes)"
	@echo "make test-shuffled       the fast lane in a random order (SEED=N repeats one order)"
	@echo "make run PROFILE=smoke   execute the curriculum into build/<profile>/ (smoke|full)"
	@echo "make data                pre-fetch every data set the curriculum uses"
	@echo "make bench               serving benchmark: labkit.serving vs Flask, FastAPI, Ray Serve; limit; plot"
	@echo "make bench-soak          32 clients for 5 minutes: errors and server memory per minute"
	@echo "make bench-memory LESSONS='08 09'  full profiles inside Binder's 2 GiB (root, cgroup v1)"
	@echo "make mlflow              MLflow UI (experiment tracking) at http://127.0.0.1:5000"
	@echo "make image               build the serving image offline with buildah and check it (root)"
	@echo "make learner-image       build the learner (JupyterHub) image offline and run lessons in it"
	@echo "make lock                move every dependency to its newest allowed version (uv.lock)"
	@echo "make lint | doctor | clean"

# The environment: a venv with exactly the versions of the lock (requirements/dev.txt, exported
# from uv.lock, every file hash-checked; its build tools first, requirements/build.txt, so that
# nothing is built with an unlocked setuptools), labkit editable on top, and a Jupyter kernel.
# The lock covers Linux x86-64 and macOS arm64 with Python 3.11 and 3.12 (pyproject.toml's
# [tool.uv]); elsewhere: pip install -e '.[serve,pipelines,dev]' (ranges, not the lock).
LOCK := requirements/dev.txt
$(STAMP): pyproject.toml requirements/build.txt $(LOCK)
	@$(PYTHON) -c 'import platform, sys; v = sys.version_info[:2]; m = (platform.system(), platform.machine()); sys.exit(0 if v in ((3, 11), (3, 12)) and m in (("Linux", "x86_64"), ("Darwin", "arm64")) else f"the lock ($(LOCK)) is for Python 3.11 or 3.12 on Linux x86-64 or macOS arm64; found Python {platform.python_version()} on {m[0]} {m[1]}. Run: make PYTHON=python3.12 ... (without the lock, an editable install of .[serve,pipelines,dev] with pip takes the ranges of pyproject.toml)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/build.txt
	$(BIN)/python -m pip install --quiet --require-hashes --no-build-isolation -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	$(BIN)/python -m ipykernel install --user --name labkit --display-name "Python 3 (labkit)" >/dev/null
	@touch $@

# The lock: uv.lock (every version and file hash, universal) and, exported from it, one hashed
# requirements file per install. `make lock` moves every dependency to its newest version within
# pyproject.toml's ranges; commit uv.lock and requirements/ together. Each file's header is the
# command that wrote it (tests/test_lock.py re-runs it).
UV_EXPORT = $(BIN)/uv export --frozen --no-emit-project --quiet
lock: $(STAMP)
	$(BIN)/uv lock --upgrade
	$(MAKE) lock-export

lock-export: $(STAMP)
	$(UV_EXPORT) --extra serve --extra pipelines --extra dev --group build --group bench -o requirements/dev.txt
	$(UV_EXPORT) --extra serve --extra pipelines --group build -o requirements/binder.txt
	$(UV_EXPORT) --extra serve --extra pipelines --extra hub --group build -o requirements/learner.txt
	$(UV_EXPORT) --extra gpu --extra serve --extra pipelines --extra hub --group build -o requirements/learner-gpu.txt
	$(UV_EXPORT) --extra serve --group build -o requirements/serving.txt
	$(UV_EXPORT) --extra gpu --extra serve --group build -o requirements/serving-gpu.txt
	$(UV_EXPORT) --only-group kubernetes-newest --only-group build -o requirements/kubernetes-newest.txt
	$(UV_EXPORT) --only-group build -o requirements/build.txt

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# Two lanes at once: the tests marked slow (the images, the wheel's fresh environment, the
# second Kubernetes client: mostly downloads, disk and pip) beside the rest (the lessons: mostly
# CPU), so that the slow lane's waiting does not add to the suite's time. Its report follows the
# main lane's (and is in build/test-slow.log); either lane failing fails make test. The slow lane
# keeps a data cache of its own (build/test-slow-lane/data), so its tests fetch what they use
# from the mirror themselves; sharing the lessons' cache would be safe too: every cache folder is
# filled under a lock (labkit.datasets.store.cache_lock).
test: $(STAMP)
	@mkdir -p build
	@LABKIT_DATA_DIR=$(CURDIR)/build/test-slow-lane/data \
	$(BIN)/python -m pytest -m slow -p no:cacheprovider >build/test-slow.log 2>&1 & slow=$$!; \
	$(BIN)/python -m pytest -m "not slow"; main=$$?; \
	wait $$slow; slow_status=$$?; \
	echo "=============== slow lane: pytest -m slow (build/test-slow.log) ==============="; \
	cat build/test-slow.log; \
	if [ $$main != 0 ] || [ $$slow_status != 0 ]; then exit 1; fi

# The edit-test loop: every test but the lesson runs (marker notebook) and those marked slow
# (image and fresh-environment builds, two TensorFlow processes, a load test, a TensorFlow
# process for a single test, the shortcut answers of the exercise checks that train models).
# It still starts real servers (KServe, MLflow) and real subprocesses (notebook kernels,
# kubectl), so it takes minutes: one test file per core at a time (pytest-xdist, --dist
# loadfile: a file's servers start once), about 2.5 minutes on 2 cores, 5 in one process.
FAST := -m "not slow and not notebook" -p no:cacheprovider
test-fast: $(STAMP)
	$(BIN)/python -m pytest $(FAST) -n 2 --dist loadfile

# The fast lane in a random order (pytest-random-order): the modules in a random order, and the
# tests of each module in a random order, so a test that passes only after another one fails
# here. (Shuffled globally, every module's servers would start again for each test.) The seed
# is printed; SEED=N repeats an order.
test-shuffled: $(STAMP)
	$(BIN)/python -m pytest $(FAST) --random-order-bucket=module $(if $(SEED),--random-order-seed=$(SEED))

run: $(STAMP)
	$(BIN)/labkit run --profile $(PROFILE) --out build/$(PROFILE)

data: $(STAMP)
	$(BIN)/labkit data fetch

lint: $(STAMP)
	$(BIN)/ruff check labkit tests notebooks
	$(BIN)/ruff format --check labkit tests notebooks

# The served sentiment model against its peers and its in-process limit (bench/README.md); Flask
# and FastAPI are in the dev lock, Ray Serve gets its own env in build/bench/envs/ray; needs wrk.
bench: $(STAMP)
	$(BIN)/python bench/serving/bench.py

# The soak (bench/README.md): 32 clients for 5 minutes, 2% of them bad requests; per minute
# requests/s, p99, errors and the server's memory (goal: zero errors, memory within 5%).
bench-soak: $(STAMP)
	$(BIN)/python bench/serving/soak.py

# Lessons in their full profile inside a 2 GiB memory cgroup, as on mybinder.org (bench/README.md);
# LESSONS= lesson numbers or notebooks, default all (hours on 2 cores). Needs root and cgroup v1.
LESSONS ?=
bench-memory: $(STAMP)
	$(BIN)/python bench/memory.py $(LESSONS)

# The serving image without a registry: debootstrapped Debian base, wheels from a host-side pip
# download, buildah bud --isolation chroot, then its server is run and asked (docker/build-image.sh).
image: $(STAMP)
	PYTHON=$(BIN)/python docker/build-image.sh --image serving

# The learner image (docker/learner.Dockerfile, the JupyterHub image) the same way, then run as
# k8s/jupyterhub/values.yaml starts it: lessons 01 and 16 held to their smoke bars inside it.
learner-image: $(STAMP)
	PYTHON=$(BIN)/python docker/build-image.sh --image learner

MLFLOW_PORT ?= 5000
# The MLflow UI over the project's tracking store (labkit.tracking), on this machine only.
mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns.db \
		--default-artifact-root $(CURDIR)/mlartifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

doctor: $(STAMP)
	$(BIN)/labkit doctor

clean:
	rm -rf build .pytest_cache
