#!/usr/bin/env bash
# A venv with the real OpenStack Placement 16.0.0 from PyPI for the fleet tests (cached in
# target/, like scripts/setup-osvif-venv.sh). Serialised with flock so parallel tests share it.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VIFMAN_PLACEMENT_VENV:-target/placement-venv}
VERSION=16.0.0
MARK="$VENV/.openstack-placement-$VERSION"
[ -f "$MARK" ] && exit 0
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
[ -f "$MARK" ] && exit 0
echo "setup: creating $VENV with openstack-placement==$VERSION" >&2
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "openstack-placement==$VERSION"
"$VENV/bin/python" -W ignore -c 'import placement.wsgi, placement.deploy'
touch "$MARK"
