#!/bin/sh
# Lets Burn's `cpu` backend build on machines that cannot reach GitHub (issue 13).
#
# Its LLVM comes from `tracel-llvm-bundler`, whose build script downloads a prebuilt LLVM from
# GitHub releases unless a bundle is already installed under the user's data directory (it
# checks for a sentinel file there, then reads that bundle's `bin/llvm-config`). This script
# installs Debian's LLVM 22 and puts an `llvm-config` that forwards to it where the bundler looks,
# for the two bundle versions Burn 0.22 uses: 22.1.4-6 (burn 0.22.0-pre.3, `llvm-sys` 221) and
# 23.1.0-4 (burn 0.22.1, `llvm-sys` 231 — LLVM 22 standing in for 23, see BENCHMARKS.md).
# Run as root. Undo: `rm -r ~/.local/share/tracel`.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Polly: `llvm-config --link-static --libs` names it; z3, zstd, xml2, zlib: its --system-libs.
apt-get install -y -qq llvm-22-dev libpolly-22-dev libz3-dev libzstd-dev libxml2-dev zlib1g-dev
data="${XDG_DATA_HOME:-$HOME/.local/share}/tracel"
for bundle in tracel-llvm-22.1.4-6 tracel-llvm-23.1.0-4; do
    mkdir -p "$data/$bundle/bin"
    # Debian's --system-libs names z3 by path (/usr/lib/x86_64-linux-gnu/libz3.so), which the
    # bundler turns into `-llibz3`; hand the linker `-lz3` instead.
    cat > "$data/$bundle/bin/llvm-config" <<'WRAPPER'
#!/bin/sh
/usr/lib/llvm-22/bin/llvm-config "$@" | sed 's#/usr/lib/x86_64-linux-gnu/libz3.so#-lz3#'
WRAPPER
    chmod +x "$data/$bundle/bin/llvm-config"
    touch "$data/$bundle/.tracel-llvm-installed"
done
echo "LLVM 22 installed for tracel-llvm-bundler under $data"
