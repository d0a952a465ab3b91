#!/usr/bin/env bash
# Installs what edgesight needs to build, run and test, and nothing twice.
#   - Debian/Ubuntu packages: GStreamer 1.20+ (dev headers, plugins, RTSP server), pkg-config,
#     and the test tools (mosquitto comes with its issue, not here)
#   - the ONNX Runtime shared library, unpacked from the `onnxruntime` PyPI wheel into .deps/onnxruntime/
#   - the demo clip (pedestrians, Apache-2.0/BSD-3-Clause) from Debian's `opencv-doc` package,
#     transcoded once to H.264 into .deps/media/vtest.mp4
#   - for the console's browser test: Debian's `chromium` and Node.js, and playwright-core (pinned,
#     from the npm registry) into .deps/node/ — it drives Debian's Chromium and downloads no browser
# Downloads are cached in .deps/cache/ (ignored by git). Uses sudo only when not root.
# A second run installs nothing and takes seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPS="$ROOT/.deps"
CACHE="$DEPS/cache"
ORT_VERSION=1.32.0
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
  chromium
)
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

say "done (ONNX Runtime: $ORT_DIR/lib, demo clip: $MEDIA/vtest.mp4, browser: $(command -v chromium || echo missing))"
