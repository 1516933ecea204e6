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

# Rust first. The plugin needs 1.85 (the locked zeroize and glib-sys's build dependencies say
# so), the tests 1.88 (proptest). Debian 12's `rustc` package (1.63) is too old; its `rustc-web`
# and `cargo-web` (1.85 in bookworm, 1.96 in bookworm-security, kept current there for the
# browsers) are not: Debian 12 without any Rust gets those below, with the other packages
# (`rustfmt-web` and `rust-web-clippy` too for the tests' lint). Elsewhere, or with a `CARGO` of
# one's own, the machine is told how to get it before any package is installed, not by
# `cargo: No such file or directory` after.
if [ "${1:-}" = --build ]; then rust_min=1.85; else rust_min=1.88; fi
# (`CARGO` may carry arguments: `make test CARGO='cargo +1.88'`.)
cargo=${CARGO:-cargo}
home=${HOME:-}
rust_packages=()
rust_help() {
	cat >&2 <<-EOF
	deps.sh: $1. Install Rust $rust_min or later, then run make again:
	  on Debian 12: apt-get install rustc-web cargo-web rustfmt-web rust-web-clippy, with
	    bookworm-security in the apt sources (1.96; bookworm's own is 1.85: enough to build the
	    plugin, not for the tests) and the lists updated; they replace Debian's rustc and cargo
	  elsewhere, with rustup:
	    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y
	    . "\$HOME/.cargo/env"
	EOF
}
# The toolchain `CARGO` runs (a `+toolchain` argument included): checked now, or once the
# packages below are installed.
check_rust() {
	if ! command -v "${cargo%% *}" >/dev/null 2>&1; then
		if [ -n "${CARGO:-}" ]; then
			echo "deps.sh: CARGO='$CARGO': ${cargo%% *} is not on PATH" >&2
		elif [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ]; then
			echo "deps.sh: Rust is in ~/.cargo/bin but not on PATH: . \"\$HOME/.cargo/env\", then make again" >&2
		else
			rust_help "no Rust toolchain on PATH (${cargo%% *} not found)"
		fi
		exit 1
	fi
	if ! command -v rustc >/dev/null 2>&1; then
		rust_help "cargo is on PATH, rustc is not"
		exit 1
	fi
	# shellcheck disable=SC2086
	rust_version=$($cargo --version 2>/dev/null | cut -d' ' -f2) || rust_version=
	if [ -z "$rust_version" ]; then
		echo "deps.sh: '$cargo --version' failed: is that toolchain installed? (rustup toolchain list)" >&2
		exit 1
	fi
	if [ "$(printf '%s\n%s\n' "$rust_min" "$rust_version" | sort -V | head -n 1)" != "$rust_min" ]; then
		rust_help "Rust $rust_version is older than $rust_min, which this needs (rustup: rustup update stable)"
		exit 1
	fi
}
# Debian 12, where `rustc-web` is.
bookworm() {
	[ -r /etc/os-release ] && grep -qx 'VERSION_CODENAME=bookworm' /etc/os-release \
		&& grep -qx 'ID=debian' /etc/os-release
}
# A rustup Rust of the user who ran `sudo make ...`: not replaced by a system one installed as
# root (whose build would then leave root's files in target/).
sudo_users_rust() {
	[ -n "${SUDO_USER:-}" ] && [ "$(id -u)" -eq 0 ] || return 1
	local h
	h=$(getent passwd "$SUDO_USER" | cut -d: -f6) || return 1
	[ -n "$h" ] && [ -x "$h/.cargo/bin/cargo" ]
}
if [ -z "${CARGO:-}" ] && ! command -v cargo >/dev/null 2>&1 && ! command -v rustc >/dev/null 2>&1 \
	&& ! { [ -n "$home" ] && [ -x "$home/.cargo/bin/cargo" ]; } && ! sudo_users_rust \
	&& command -v dpkg >/dev/null 2>&1 && bookworm; then
	rust_packages=(rustc-web cargo-web)
	if [ "${1:-}" != --build ]; then rust_packages+=(rustfmt-web rust-web-clippy); fi
elif sudo_users_rust && ! command -v cargo >/dev/null 2>&1; then
	echo "deps.sh: $SUDO_USER's Rust is not root's: run make as $SUDO_USER first, then sudo make install-system" >&2
	exit 1
else
	check_rust
	# Debian's Rust, got so before (by `make`, which needs no lint) and the one on PATH: the
	# lint's tools too.
	if [ "${1:-}" != --build ] && [ -z "${CARGO:-}" ] && [ "$(command -v cargo)" = /usr/bin/cargo ] \
		&& dpkg-query -W -f='${Status}' cargo-web 2>/dev/null | grep -q "install ok installed"; then
		rust_packages=(rustfmt-web rust-web-clippy)
	fi
fi

# Build: libpurple + GLib headers (bindgen, the C shim), libclang (bindgen), a C compiler, pkg-config.
# Tests and demo: the IRC, XMPP and SIP servers, an IRC bouncer (ZNC), the XMPP carbons plugin many
# users run beside Sotto, and the locale sources a test compiles a Turkish locale from. (Pidgin,
# Xvfb and the rest the screenshots need: docs/screenshots/take.sh installs them itself.)
build_packages=(libpurple-dev libglib2.0-dev pkg-config clang libclang-dev gcc make)
if [ "${1:-}" = --build ]; then
	# Installing the plugin must not put chat servers on the user's system.
	packages=("${build_packages[@]}" ${rust_packages[@]+"${rust_packages[@]}"})
else
	packages=(
		"${build_packages[@]}" ${rust_packages[@]+"${rust_packages[@]}"}
		ngircd prosody kamailio znc purple-xmpp-carbons libfaketime locales
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
if [ "${#missing[@]}" -eq 0 ]; then
	if [ "${#rust_packages[@]}" -gt 0 ]; then
		check_rust
	fi
	exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps.sh: no sudo here; as root, run: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	# (sudo resets the environment, DEBIAN_FRONTEND with it; passing it explicitly would be
	# refused where sudoers allows apt-get alone. `-y` answers apt; debconf asks nothing for
	# these packages.)
	sudo=(sudo)
fi
# Update the package lists first when there are none; again if a package cannot be found. A
# machine just booted may have apt busy (its daily update, unattended-upgrades): the install
# waits for dpkg's lock, and an update that fails is tried again a few times (its lock has no
# wait of its own).
apt_update() {
	local i
	for i in 1 2 3 4 5 6; do
		"${sudo[@]}" apt-get update && return 0
		[ "$i" -lt 6 ] && echo "deps.sh: apt-get update failed (busy?); again in 10 s" >&2 && sleep 10
	done
	return 1
}
apt_install() {
	"${sudo[@]}" apt-get install -o DPkg::Lock::Timeout=600 -y --no-install-recommends "${missing[@]}"
}
if ! compgen -G "/var/lib/apt/lists/*_Packages*" >/dev/null; then
	apt_update
fi
if ! apt_install; then
	apt_update
	apt_install
fi
# Services installed only for tests must not stay running system-wide (without systemd, as in
# a container, their init scripts may have started them).
for svc in ngircd inspircd prosody ejabberd kamailio znc; do
	if [[ " ${missing[*]} " == *" $svc "* ]]; then
		if ! { command -v systemctl >/dev/null 2>&1 \
			&& "${sudo[@]}" systemctl disable --now "$svc" >/dev/null 2>&1; }; then
			"${sudo[@]}" service "$svc" stop >/dev/null 2>&1 || true
			"${sudo[@]}" update-rc.d "$svc" disable >/dev/null 2>&1 || true
		fi
	fi
done
# Rust from the packages just installed: the version this needs?
if [ "${#rust_packages[@]}" -gt 0 ]; then
	check_rust
fi
