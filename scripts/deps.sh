#!/usr/bin/env bash
# Install the Debian packages Sotto's build and tests need, only those missing.
# Safe to run again (it does nothing when all are present).
#   scripts/deps.sh --build    what building the plugin needs (`make`, `make install`)
#   scripts/deps.sh            build + test dependencies (`make test`, `make demo`, `make e2e`)
#   scripts/deps.sh PKG...     the same, plus PKG... (the benches: libotr5-dev, valgrind, bc)
#   SOTTO_DEPS_SKIP=1 make     skip the check (e.g. on a non-Debian system with the libraries installed)
set -euo pipefail

if [ "${SOTTO_DEPS_SKIP:-0}" = 1 ]; then
	exit 0
fi

# Build: libpurple + GLib headers (bindgen, the C shim), libclang (bindgen), a C compiler, pkg-config.
# Tests and demo: the IRC, XMPP and SIP servers, an IRC bouncer (ZNC), the XMPP carbons plugin many users run beside
# Sotto, Pidgin under Xvfb for the screenshots, and the locale sources a test compiles a Turkish locale from.
build_packages=(libpurple-dev libglib2.0-dev pkg-config clang libclang-dev gcc make)
if [ "${1:-}" = --build ]; then
	# Installing the plugin must not put chat servers on the user's system.
	packages=("${build_packages[@]}")
else
	packages=(
		"${build_packages[@]}"
		ngircd prosody kamailio znc purple-xmpp-carbons libfaketime locales
		pidgin finch xvfb xdotool
		"$@"
	)
fi

if ! command -v dpkg >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install the equivalents of: ${packages[*]}" >&2
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	# Installed and configured, not merely known to dpkg (removed with its configuration kept,
	# half-installed): those are installed again.
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# Update the package lists first when there are none; again if a package cannot be found.
if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
	"${sudo[@]}" apt-get update
fi
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
	"${sudo[@]}" apt-get update
	"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Services installed only for tests must not stay running system-wide.
for svc in ngircd prosody kamailio znc; do
	if [[ " ${missing[*]} " == *" $svc "* ]] && command -v systemctl >/dev/null 2>&1; then
		"${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done
