# Sourced by scripts/test.sh and scripts/demo.sh: installs the Debian 12 packages attune's build
# needs, only those missing, with sudo when not root.
attune_install_deps() {
  local pkgs=(cmake g++ make pkg-config libeigen3-dev libxsimd-dev catch2 libbenchmark-dev)
  local missing=()
  local p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "attune: installing missing packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "attune: need root or sudo to install: ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

attune_jobs() {
  nproc 2>/dev/null || echo 2
}
