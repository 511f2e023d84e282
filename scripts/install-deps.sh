#!/bin/sh
# install-deps.sh - make sure the test and oracle dependencies are present:
# Criterion (unit tests) and MPFR/GMP (the golden-vector oracle), from Debian's
# packages.  Does nothing when they are already installed.  Run as root (CI and
# the dev machines are); otherwise it uses sudo if there is one.
set -eu

have_header() {
    printf '#include <%s>\nint main(void){return 0;}\n' "$1" |
        ${CC:-cc} -x c - -o /dev/null $2 >/dev/null 2>&1
}

missing=""
have_header criterion/criterion.h -lcriterion || missing="$missing libcriterion-dev"
have_header mpfr.h "-lmpfr -lgmp" || missing="$missing libmpfr-dev libgmp-dev"
[ -n "$missing" ] || exit 0

echo "install-deps: installing$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-deps: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq $missing >/dev/null
