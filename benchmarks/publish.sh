#!/usr/bin/env bash
# Copy a finished comparison's report into docs/ under a name, as the README cites it:
#   benchmarks/publish.sh runs/compare/grasp-real-l2sp grasp-real-l2sp
# -> docs/<name>-{report.md,summary.json,results.csv} and docs/figures/<name>-<plot>.png (every plot it wrote).
# It refuses to replace a published file unless FORCE=1 (a published figure changes only on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:?usage: $0 <compare dir> <name>}
name=${2:?usage: $0 <compare dir> <name>}
[ -f "$src/summary.json" ] || { echo "error: $src has no summary.json; run the comparison first" >&2; exit 2; }
declare -A dest=(
  [report.md]=docs/$name-report.md [summary.json]=docs/$name-summary.json [results.csv]=docs/$name-results.csv
  [learning_curves.png]=docs/figures/$name-curves.png [budgets.png]=docs/figures/$name-budgets.png
  [tradeoff.png]=docs/figures/$name-tradeoff.png [sequence.png]=docs/figures/$name-sequence.png
  [logged.png]=docs/figures/$name-logged.png
)
# the report's own image links (a plot beside it, e.g. ![learning curves](learning_curves.png)) point at the
# published copies under docs/figures/
links=""
for f in "${!dest[@]}"; do
  case $f in *.png) links+="s#](${f})#](figures/$(basename "${dest[$f]}"))#g;" ;; esac
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in "${!dest[@]}"; do
  [ -f "$src/$f" ] || continue
  from="$src/$f"
  if [ "$f" = report.md ]; then sed "$links" "$src/$f" > "$tmp/report.md"; from="$tmp/report.md"; fi
  if [ -e "${dest[$f]}" ] && [ "${FORCE:-0}" != 1 ] && ! cmp -s "$from" "${dest[$f]}"; then
    echo "error: ${dest[$f]} exists and differs; FORCE=1 to replace it" >&2; exit 2
  fi
  cp "$from" "${dest[$f]}"
  echo "${dest[$f]}"
done
