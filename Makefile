# edgesight — the two commands a user needs are `make run` and `make test`.
# Both install what is missing first (scripts/setup.sh: apt packages, ONNX Runtime, demo clip,
# NVRTC and the CUDA/TensorRT headers for the GPU path's build and compile checks).

CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
ARGS ?=
# For the tests only: NVRTC from .deps/ (scripts/setup.sh) compiles cuda/*.cu; no GPU needed.
# (`make run` uses the machine's own NVRTC, which matches its driver.)
TEST_LD_LIBRARY_PATH := $(CURDIR)/.deps/cuda/nvrtc/lib$(if $(LD_LIBRARY_PATH),:$(LD_LIBRARY_PATH))

.PHONY: run test setup build lint bench bench-setup check-fresh

## Install everything, build in release mode, run the demo (console on http://127.0.0.1:8080).
## The TensorRT backend is compiled in (it loads TensorRT at run time where there is one; without
## it the CPU serves and the log says why).
run: setup
	$(CARGO) build --release --locked --features tensorrt
	./target/release/edgesight run $(ARGS)

## Install everything and run every test of the workspace, with the TensorRT backend compiled in
## (no GPU or TensorRT needed: GPU tests say they skip; the shim is built against .deps headers),
## then the backend's "built without the feature" path.
test: export LD_LIBRARY_PATH := $(TEST_LD_LIBRARY_PATH)
test: setup
	$(CARGO) test --workspace --locked --features edgesight/tensorrt
	$(CARGO) test --locked --test tensorrt

## Install what is missing (idempotent; a second run takes seconds).
setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release --locked --features tensorrt

## Formatting and lints, as CI checks them: with and without the TensorRT backend.
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy --workspace --all-targets --locked --features edgesight/tensorrt -- -D warnings

## Benchmarks (not tests): pipeline vs bare ONNX Runtime, preprocessing vs OpenCV + NumPy;
## see PERFORMANCE.md. Installs the baseline's Python packages (not needed by `make test`).
bench: bench-setup
	$(CARGO) bench --locked --bench pipeline_vs_bare
	$(CARGO) bench --locked --bench preprocess
	$(CARGO) bench --locked --bench vs_python

bench-setup:
	@bash scripts/setup.sh --bench
