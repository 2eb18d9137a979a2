#!/usr/bin/env bash
# The folders (or pages) pip's configuration searches for wheels besides the index, one a line: its
# files and PIP_FIND_LINKS, as `pip config list` shows them. uv reads no pip setting, so setup.sh and
# the fresh-venv test pass these on (this project's machines keep PyTorch's CPU build there).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pip config list 2>/dev/null | sed -n "s/^[^=]*\.find-links='\(.*\)'$/\1/p" | tr ' ' '\n' \
  | sed '/^$/d' | sort -u
