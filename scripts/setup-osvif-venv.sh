#!/usr/bin/env bash
# A venv with the real os-vif 5.3.0 from PyPI for the interop tests (cached in target/).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VIFMAN_OSVIF_VENV:-target/osvif-venv}
MARK="$VENV/.os-vif-5.3.0"
[ -f "$MARK" ] && exit 0
echo "setup: creating $VENV with os-vif==5.3.0" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check os-vif==5.3.0
"$VENV/bin/python" -W ignore -c 'import os_vif; from os_vif import objects; objects.register_all()'
touch "$MARK"
