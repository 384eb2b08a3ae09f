#!/bin/bash
# run-one.sh NAME FILE: one scenario with strict mode and the shared helpers.
set -Eeuo pipefail
NAME=$1
# shellcheck source=lib.sh
. /mnt/host/guest/lib.sh
# A failed scenario may leave VFs half-configured: the next fresh_vfs recreates them.
trap 'rc=$?; [ $rc = 0 ] || for p in $(pfs); do mark_dirty "$p"; done' EXIT
# shellcheck disable=SC1090
. "$2"
# A scenario that falls off its end without calling pass/skip did not finish its checks.
fail "scenario ended without a verdict"
