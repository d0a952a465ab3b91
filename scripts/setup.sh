#!/usr/bin/env bash
# Installs what edgesight needs to build, run and test, and nothing twice.
#   - Debian/Ubuntu packages: GStreamer 1.20+ (dev headers, plugins, RTSP server), pkg-config,
#     and the test tools (mosquitto: the MQTT broker the MQTT tests start on their own port)
#   - the ONNX Runtime shared library, unpacked from the `onnxruntime` PyPI wheel into .deps/onnxruntime/
#   - the demo clip (pedestrians, Apache-2.0/BSD-3-Clause) from Debian's `opencv-doc` package,
#     transcoded once to H.264 into .deps/media/vtest.mp4
#   - GPU build and test inputs (no GPU needed): NVRTC from the PyPI wheel `nvidia-cuda-nvrtc-cu12`
#     into .deps/cuda/nvrtc/ (compiles cuda/*.cu to PTX in tests), the CUDA runtime headers from
#     `nvidia-cuda-runtime-cu12` (+ their crt/ part from `nvidia-cuda-nvcc-cu12`) into
#     .deps/cuda/runtime/include/, and the TensorRT headers vendored
#     in the crates.io package `trtx-sys` into .deps/tensorrt/include/ (feature `tensorrt`)
#   - Python `onnx` (PyPI) into .deps/python/, and with it YOLOX-nano re-exported with a dynamic
#     batch dimension into .deps/models/ when ../shared/models/yolox_nano.onnx is there
#   - with `--bench`: also `opencv-python-headless` + `numpy` into .deps/python/ (the baseline
#     of benches/preprocess.rs; `make bench` passes it, `make test` does not)
#   - for the console's browser test: Debian's `chromium` and Node.js, and playwright-core (pinned,
#     from the npm registry) into .deps/node/ — it drives Debian's Chromium and downloads no browser
# Downloads are cached in .deps/cache/ (ignored by git). Uses sudo only when not root.
# A second run installs nothing and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/.deps"
CACHE="$DEPS/cache"
ORT_VERSION=1.32.0
NVRTC_VERSION=12.9.86
CUDART_VERSION=12.9.79
CUDA_CRT_VERSION=12.9.86
TRTX_SYS_VERSION=0.9.1
TRT_HEADERS=TRT-Enterprise-11.4
# Python packages, pinned with their dependencies (installed with --no-deps).
PY_TEST_PACKAGES=(onnx==1.19.1 numpy==2.4.6 protobuf==7.36.2 ml_dtypes==0.6.0 typing_extensions==4.16.0)
PY_BENCH_PACKAGES=(opencv-python-headless==4.12.0.88 onnxruntime==1.32.0 flatbuffers==25.12.19 packaging==26.4)
BENCH=0
for arg in "$@"; do
  case "$arg" in
    --bench) BENCH=1 ;;
    *) echo "setup: unknown argument $arg (known: --bench)" >&2; exit 2 ;;
  esac
done
PLAYWRIGHT_VERSION=1.64.1
mkdir -p "$CACHE"

say() { printf 'setup: %s\n' "$*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  pkg-config build-essential python3 python3-pip
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp gstreamer1.0-x
  libclang1 mosquitto chromium
)
# libclang1: bindgen generates the TensorRT shim's Rust bindings (feature `tensorrt`) with it.
# mosquitto: the MQTT broker the MQTT tests start (the service itself is not enabled).
# chromium: the console's browser test (driven by playwright-core; no browser is downloaded).
# Node.js for the browser test's driver: Debian's, unless one is on the PATH already.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  APT_PACKAGES+=(nodejs npm)
fi

# Rust: the project needs a current stable toolchain (Cargo.toml's rust-version).
if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    say "installing the Rust toolchain with rustup (https://rustup.rs) into ~/.cargo"
    command -v curl >/dev/null 2>&1 || { $SUDO apt-get update -q && $SUDO apt-get install -y -q curl ca-certificates; }
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    say "Rust installed: open a new shell or run: source ~/.cargo/env"
  fi
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  mkdir -p "$CACHE/apt/partial"
  $SUDO apt-get update -q
  # Our own archive folder: the image's docker-clean hook can delete downloaded .debs mid-install.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dir::Cache::archives="$CACHE/apt" "${missing[@]}"
else
  say "Debian packages: all present"
fi

# ONNX Runtime shared library from the PyPI wheel (no build step downloads anything else).
ORT_DIR="$DEPS/onnxruntime"
if [ ! -f "$ORT_DIR/VERSION" ] || [ "$(cat "$ORT_DIR/VERSION")" != "$ORT_VERSION" ]; then
  arch=$(uname -m)
  case "$arch" in
    x86_64) platform=manylinux_2_28_x86_64 ;;
    aarch64) platform=manylinux_2_28_aarch64 ;;
    *) say "no onnxruntime wheel for $arch"; exit 1 ;;
  esac
  wheel=$(ls "$CACHE"/onnxruntime-"$ORT_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    say "downloading the onnxruntime $ORT_VERSION wheel ($arch) from PyPI"
    python3 -m pip download -q --no-deps --only-binary=:all: --platform "$platform" \
      --python-version 3.11 -d "$CACHE" "onnxruntime==$ORT_VERSION" \
      || python3 -m pip download -q --no-deps --only-binary=:all: -d "$CACHE" "onnxruntime==$ORT_VERSION"
    wheel=$(ls "$CACHE"/onnxruntime-"$ORT_VERSION"-*.whl | head -n1)
  fi
  say "unpacking libonnxruntime from $(basename "$wheel") into .deps/onnxruntime/"
  rm -rf "$ORT_DIR" && mkdir -p "$ORT_DIR/lib"
  tmp=$(mktemp -d)
  python3 -m zipfile -e "$wheel" "$tmp"
  cp "$tmp"/onnxruntime/capi/libonnxruntime.so.* "$ORT_DIR/lib/"
  lib=$(ls "$ORT_DIR"/lib/libonnxruntime.so.* | head -n1)
  ln -sf "$(basename "$lib")" "$ORT_DIR/lib/libonnxruntime.so"
  rm -rf "$tmp"
  echo "$ORT_VERSION" > "$ORT_DIR/VERSION"
else
  say "ONNX Runtime $ORT_VERSION: present in .deps/onnxruntime/"
fi

# Demo clip: OpenCV's pedestrian sample from Debian's opencv-doc, transcoded once to H.264.
MEDIA="$DEPS/media"
if [ ! -f "$MEDIA/vtest.mp4" ]; then
  mkdir -p "$MEDIA"
  deb=$(ls "$CACHE"/opencv-doc_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    say "downloading Debian's opencv-doc package for the demo clip"
    (cd "$CACHE" && apt-get download -q opencv-doc)
    deb=$(ls "$CACHE"/opencv-doc_*.deb | head -n1)
  fi
  tmp=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmp"
  avi=$(find "$tmp" -name vtest.avi | head -n1)
  [ -n "$avi" ] || { say "vtest.avi not found in $(basename "$deb")"; exit 1; }
  say "transcoding the demo clip to H.264 (.deps/media/vtest.mp4)"
  gst-launch-1.0 -q filesrc location="$avi" ! decodebin ! videoconvert ! \
    x264enc speed-preset=medium key-int-max=10 bframes=0 ! video/x-h264,profile=constrained-baseline ! \
    h264parse ! mp4mux ! filesink location="$MEDIA/vtest.mp4.part"
  mv "$MEDIA/vtest.mp4.part" "$MEDIA/vtest.mp4"
  rm -rf "$tmp"
else
  say "demo clip: present in .deps/media/"
fi

# A wheel from PyPI, cached in .deps/cache/<sub>/; prints its path.
wheel_for() { # sub, requirement
  local sub=$1 req=$2 name ver w
  name=${req%%==*}; ver=${req##*==}
  mkdir -p "$CACHE/$sub"
  w=$(ls "$CACHE/$sub"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$w" ]; then
    say "downloading $req from PyPI"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$CACHE/$sub" "$req" >&2
    w=$(ls "$CACHE/$sub"/"${name//-/_}"-"$ver"-*.whl | head -n1)
  fi
  printf '%s\n' "$w"
}

# NVRTC (compiles cuda/*.cu to PTX in the tests, no GPU needed): libnvrtc.so.12 + its builtins.
NVRTC_DIR="$DEPS/cuda/nvrtc"
if [ "$(cat "$NVRTC_DIR/VERSION" 2>/dev/null)" != "$NVRTC_VERSION" ]; then
  w=$(wheel_for cuda "nvidia-cuda-nvrtc-cu12==$NVRTC_VERSION")
  say "installing NVRTC $NVRTC_VERSION from $(basename "$w") into .deps/cuda/nvrtc/lib/"
  rm -rf "$NVRTC_DIR" && mkdir -p "$NVRTC_DIR/lib"
  tmp=$(mktemp -d)
  python3 -m zipfile -e "$w" "$tmp"
  cp "$tmp"/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 "$tmp"/nvidia/cuda_nvrtc/lib/libnvrtc-builtins.so.* "$NVRTC_DIR/lib/"
  rm -f "$NVRTC_DIR"/lib/*.alt.*
  cp "$tmp"/nvidia_cuda_nvrtc_cu12-*.dist-info/licenses/License.txt "$NVRTC_DIR/LICENSE.txt" 2>/dev/null || true
  rm -rf "$tmp"
  echo "$NVRTC_VERSION" > "$NVRTC_DIR/VERSION"
else
  say "NVRTC $NVRTC_VERSION: present in .deps/cuda/nvrtc/"
fi

# CUDA runtime headers (TensorRT's headers include cuda_runtime_api.h); nothing is linked. The
# runtime wheel lacks the crt/ headers cuda_runtime_api.h includes: those come from the nvcc wheel.
CUDART_DIR="$DEPS/cuda/runtime"
if [ "$(cat "$CUDART_DIR/VERSION" 2>/dev/null)" != "$CUDART_VERSION+crt$CUDA_CRT_VERSION" ]; then
  w=$(wheel_for cuda "nvidia-cuda-runtime-cu12==$CUDART_VERSION")
  crt=$(wheel_for cuda "nvidia-cuda-nvcc-cu12==$CUDA_CRT_VERSION")
  say "installing the CUDA runtime headers $CUDART_VERSION (crt/ from nvcc $CUDA_CRT_VERSION) into .deps/cuda/runtime/include/"
  rm -rf "$CUDART_DIR" && mkdir -p "$CUDART_DIR"
  tmp=$(mktemp -d)
  python3 -m zipfile -e "$w" "$tmp"
  cp -r "$tmp"/nvidia/cuda_runtime/include "$CUDART_DIR/include"
  rm -rf "$tmp" && tmp=$(mktemp -d)
  python3 -m zipfile -e "$crt" "$tmp"
  cp -r "$tmp"/nvidia/cuda_nvcc/include/crt "$CUDART_DIR/include/crt"
  rm -rf "$tmp"
  echo "$CUDART_VERSION+crt$CUDA_CRT_VERSION" > "$CUDART_DIR/VERSION"
else
  say "CUDA runtime headers $CUDART_VERSION: present in .deps/cuda/runtime/"
fi

# TensorRT headers (Apache-2.0) vendored in the crates.io package trtx-sys: fetched through cargo
# with a throwaway manifest, never built; only its $TRT_HEADERS headers are unpacked.
TRT_DIR="$DEPS/tensorrt"
if [ "$(cat "$TRT_DIR/VERSION" 2>/dev/null)" != "trtx-sys-$TRTX_SYS_VERSION/$TRT_HEADERS" ]; then
  crate=$(ls "$CACHE"/trtx-sys-"$TRTX_SYS_VERSION"*.crate 2>/dev/null | head -n1 || true)
  if [ -z "$crate" ]; then
    say "downloading the crate trtx-sys $TRTX_SYS_VERSION (TensorRT headers) from crates.io"
    tmp=$(mktemp -d)
    mkdir -p "$tmp/src" && echo 'fn main() {}' > "$tmp/src/main.rs"
    printf '[package]\nname = "fetch-trtx-headers"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\ntrtx-sys = "=%s"\n' \
      "$TRTX_SYS_VERSION" > "$tmp/Cargo.toml"
    (cd "$tmp" && cargo fetch -q)
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    cp "$(ls "$cargo_home"/registry/cache/*/trtx-sys-"$TRTX_SYS_VERSION"*.crate | head -n1)" "$CACHE/"
    rm -rf "$tmp"
    crate=$(ls "$CACHE"/trtx-sys-"$TRTX_SYS_VERSION"*.crate | head -n1)
  fi
  say "unpacking the TensorRT headers ($TRT_HEADERS) from $(basename "$crate") into .deps/tensorrt/include/"
  rm -rf "$TRT_DIR" && mkdir -p "$TRT_DIR/include"
  tmp=$(mktemp -d)
  tar -xzf "$crate" -C "$tmp" --wildcards "*/TensorRT-Headers/$TRT_HEADERS/*"
  cp -r "$tmp"/*/TensorRT-Headers/"$TRT_HEADERS"/. "$TRT_DIR/include/"
  rm -rf "$tmp"
  echo "trtx-sys-$TRTX_SYS_VERSION/$TRT_HEADERS" > "$TRT_DIR/VERSION"
else
  say "TensorRT headers ($TRT_HEADERS): present in .deps/tensorrt/"
fi

# Python packages into .deps/python/ (PYTHONPATH=.deps/python), pinned, from cached wheels.
py_install() { # marker, packages...
  local marker=$1; shift
  local want="$*" wheels=() req
  if [ "$(cat "$DEPS/python/$marker" 2>/dev/null)" = "$want" ]; then
    say "Python packages ($marker): present in .deps/python/"
    return
  fi
  for req in "$@"; do wheels+=("$(wheel_for python "$req")"); done
  say "installing Python packages into .deps/python/: $want"
  python3 -m pip install -q --root-user-action=ignore --no-deps --no-index --upgrade --target "$DEPS/python" "${wheels[@]}" >&2
  echo "$want" > "$DEPS/python/$marker"
}
py_install VERSION-test "${PY_TEST_PACKAGES[@]}"
if [ "$BENCH" = 1 ]; then
  py_install VERSION-bench "${PY_BENCH_PACKAGES[@]}"
fi

# YOLOX-nano with a dynamic batch dimension (tests of batched inference), when the shared model
# is there; re-made when the script or the source model changes.
YOLOX_SRC="$ROOT/../shared/models/yolox_nano.onnx"
YOLOX_OUT="$DEPS/models/yolox_nano_dynamic.onnx"
if [ -f "$YOLOX_SRC" ]; then
  stamp="$(sha256sum "$YOLOX_SRC" "$ROOT/scripts/models/yolox_dynamic_batch.py" | awk '{print $1}' | tr '\n' ' ')"
  if [ ! -f "$YOLOX_OUT" ] || [ "$(cat "$YOLOX_OUT.stamp" 2>/dev/null)" != "$stamp" ]; then
    mkdir -p "$DEPS/models"
    say "re-exporting YOLOX-nano with a dynamic batch into .deps/models/"
    PYTHONPATH="$DEPS/python" python3 "$ROOT/scripts/models/yolox_dynamic_batch.py" "$YOLOX_SRC" "$YOLOX_OUT" >&2
    echo "$stamp" > "$YOLOX_OUT.stamp"
  else
    say "YOLOX-nano dynamic batch: present in .deps/models/"
  fi
else
  say "YOLOX-nano not at $YOLOX_SRC: batched-inference tests will say they skip"
fi

# playwright-core for the console's end-to-end test (tests/console.rs): a pinned version in
# .deps/node/, its download cached in .deps/cache/npm/.
NODE_DIR="$DEPS/node"
installed=$(node -p "require('$NODE_DIR/node_modules/playwright-core/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$PLAYWRIGHT_VERSION" ]; then
  say "installing playwright-core $PLAYWRIGHT_VERSION into .deps/node/ (npm)"
  mkdir -p "$NODE_DIR"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" --cache "$CACHE/npm" \
    --no-audit --no-fund --loglevel=error "playwright-core@$PLAYWRIGHT_VERSION"
else
  say "playwright-core $PLAYWRIGHT_VERSION: present in .deps/node/"
fi

say "done (ONNX Runtime: $ORT_DIR/lib, NVRTC: $NVRTC_DIR/lib, TensorRT headers: $TRT_DIR/include, demo clip: $MEDIA/vtest.mp4, browser: $(command -v chromium || echo missing))"
