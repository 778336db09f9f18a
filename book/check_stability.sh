#!/usr/bin/env bash
# Do the checked outputs (cells tagged nbval-check-output) hold on another machine?
# Runs the chapters under nbval once per variant below: other BLAS kernels (as on another CPU),
# two threads instead of nnlib's default one, torch's vector kernels without AVX2. A cell that fails in any
# variant prints something that depends on the machine, and must be made robust.
#
#   bash book/check_stability.sh                         # every chapter, every variant
#   bash book/check_stability.sh chapters/ch03_2_backprop.ipynb
#
# Opt-in (not part of `make test`): it runs the notebooks once per variant (~1 min each).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
notebooks=("$@")
(( ${#notebooks[@]} )) || notebooks=(chapters/*.ipynb)

variants=(
  "default:"
  "two-threads:NNLIB_CPU_THREADS=2"
  "openblas-sandybridge:OPENBLAS_CORETYPE=Sandybridge"
  "openblas-prescott+torch-noavx:OPENBLAS_CORETYPE=Prescott ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2"
)
status=0
for v in "${variants[@]}"; do
  name=${v%%:*}
  vars=${v#*:}
  log=$(mktemp)
  # shellcheck disable=SC2086
  env $vars "$PY" -m pytest -q -p no:cacheprovider --no-header --nbval-lax --nbval-current-env \
    --nbval-sanitize-with book/nbval_sanitize.cfg "${notebooks[@]}" >"$log" 2>&1
  rc=$?
  echo "== $name ($vars): $(tail -n 1 "$log")"
  if (( rc )); then
    status=1
    grep -E '^(FAILED|  [-+?] )' "$log" | head -n 40
  fi
  rm -f "$log"
done
exit $status
