#!/usr/bin/env bash
# Installs the Debian packages a local kubemesos cluster needs, if missing.
set -euo pipefail
# bash-static, bind9-dnsutils, curl, netcat-openbsd and iproute2 go into the upstream test images
# (the suite's sh; dig for the DNS tests; curl and nc for the Service tests).
pkgs=(containerd runc containernetworking-plugins busybox-static iptables iproute2 kmod util-linux conntrack bash-static bind9-dnsutils curl netcat-openbsd)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "deps: all installed"; exit 0; fi
echo "deps: installing ${missing[*]}"
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
