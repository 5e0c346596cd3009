#!/usr/bin/env bash
# qhall: set everything up, then run the main job or the test suite.
#
#   ./run.sh demo [ARGS...]   set up, then `qhall demo ARGS...`
#   ./run.sh test [ARGS...]   set up, then the whole test suite (pytest ARGS...)
#   ./run.sh setup            set up only (everything the tests need)
#
# Set-up is idempotent: Debian/Ubuntu packages that are missing are installed
# when run as root (otherwise the exact apt-get line is printed and we stop),
# a virtual environment is made in .venv and the project is installed into it.
set -euo pipefail
cd "$(dirname "$0")"

# What `qhall demo` needs on a fresh machine (Qt, CJK font, speech).
DEMO_APT=(
  python3-venv
  fonts-wqy-microhei            # CJK font for screens and printed tickets
  espeak-ng                     # speech for announcements (pyttsx3)
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0
  libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
  libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0
  libpulse0 libasound2
)
# What only the test suite needs, on top of the demo's.
TEST_APT=(
  sox                           # audio checks in tests
  pulseaudio pulseaudio-utils   # null sink for the audio end-to-end test
  xvfb                          # real windows for screenshots
  chromium                      # web board and page tests
  postgresql                    # throwaway clusters in store tests
  openssl                       # self-signed certificate in the TLS test
)

need_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
      echo "run.sh: installing system packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
      echo "run.sh: missing system packages. Run this, then run.sh again:" >&2
      echo "  sudo apt-get install -y ${missing[*]}" >&2
      exit 1
    fi
  fi
}

pick_python() {
  for py in "${QHALL_PYTHON:-}" python3.11 python3.12 python3; do
    [[ -n "$py" ]] || continue
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return
    fi
  done
  echo "run.sh: Python >= 3.11 is needed" >&2; exit 1
}

# setup demo|test: the Debian packages and Python extras that job needs.
setup() {
  local kind=${1:-test} extras=
  local packages=("${DEMO_APT[@]}")
  if [[ $kind == test ]]; then packages+=("${TEST_APT[@]}"); extras='[test]'; fi
  if command -v dpkg-query >/dev/null 2>&1; then need_apt "${packages[@]}"; fi
  if [[ ! -x .venv/bin/python ]]; then
    "$(pick_python)" -m venv .venv
  fi
  # A test install covers the demo too.
  local stamp=.venv/.qhall-installed-$kind
  [[ $kind == demo && -f .venv/.qhall-installed-test && ! pyproject.toml -nt .venv/.qhall-installed-test ]] \
    && stamp=.venv/.qhall-installed-test
  if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".${extras}"
    touch "$stamp"
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  setup) setup test ;;
  demo)  setup demo; exec .venv/bin/qhall demo "$@" ;;
  test)  setup test; exec .venv/bin/python -m pytest "$@" ;;
  *) echo "usage: ./run.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
