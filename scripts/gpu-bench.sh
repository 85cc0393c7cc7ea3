#!/usr/bin/env bash
# The benchmark and the kernel grids on a Linux machine with an NVIDIA GPU and Vulkan but no internet and no
# node_modules (packages/cli/BENCH.md#a-gpu-machine-without-internet). Two steps:
#
#   scripts/gpu-bench.sh pack                     here, in a checkout with node_modules: builds .gpu-bench/ (ignored,
#                                                 about 27 MiB): the CLI bundled into one file, Dawn's Node addon,
#                                                 this machine's Node and the Vulkan loader's .deb, compressed
#   scripts/gpu-bench.sh [--dry-run] [bench options…]
#                                                 there, from the repository root, with .gpu-bench/ carried along:
#                                                 `webmoe bench --runtime node --json` on Dawn/Vulkan, its JSON
#                                                 written to packages/cli/results/<adapter>-<date>.json (and copied
#                                                 to $OUT when that is set)
#   scripts/gpu-bench.sh kernels [kernels options…]
#                                                 there: `webmoe kernels --json` (every kernel grid against its CPU
#                                                 reference), to results/<adapter>-kernels-<date>.json
#   scripts/gpu-bench.sh all [bench options…]     there: the grids while the bench's models are generated on the
#                                                 CPU, then the bench alone on the GPU; both files
#   --label=NAME                                  (bench, all) the bench's file is <adapter>-bench-NAME-<date>.json,
#                                                 so that runs with other options keep their own
#
# Where node_modules are present the script runs the CLI from source instead (pnpm webmoe bench --runtime node),
# and it uses a Node and a Vulkan loader it finds before unpacking the carried ones. --dry-run says what it
# found, what it would run and what is missing, and exits 1 when something is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PACK="$ROOT/.gpu-bench"
WORK=${WEBMOE_GPU_BENCH_TMP:-/tmp/webmoe-gpu-bench}
say() { printf 'gpu-bench: %s\n' "$*" >&2; }

pack() {
  command -v node >/dev/null || { say 'pack needs node (≥ 20) and the workspace node_modules (pnpm install)'; exit 1; }
  [ -d "$ROOT/node_modules" ] || { say "pack needs $ROOT/node_modules (pnpm install)"; exit 1; }
  grep -qx '/.gpu-bench/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '/.gpu-bench/' >>"$ROOT/.git/info/exclude"
  rm -rf "$PACK"
  node "$ROOT/scripts/gpu-bench/pack.mjs" "$PACK"
  # Both binaries without their symbol tables (Debian's node keeps its debug info: 99 MiB, 40 stripped),
  # xz-compressed: the carried folder and the working tree share the device tool's 64 MiB.
  local dawn="$PACK/app/node_modules/webgpu/dist/linux-x64/dawn.node" bin="$PACK/node"
  strip --strip-unneeded "$dawn" 2>/dev/null || say 'strip not found: dawn.node carried with its symbols'
  xz -T0 -9e "$dawn"
  say "compressing $(command -v node) ($(node --version))"
  strip -o "$bin" "$(command -v node)" 2>/dev/null || cp "$(command -v node)" "$bin"
  "$bin" --version >/dev/null
  xz -T0 -9e "$bin"
  # The Vulkan loader (the NVIDIA machine may have none), as Debian packages it for amd64, and libglvnd's
  # dispatch library, which NVIDIA's Vulkan driver (libGLX_nvidia) loads.
  mkdir -p "$PACK/debs" /tmp/webmoe-apt-amd64/partial
  local apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/webmoe-apt-amd64)
  if apt-get "${apt[@]}" update >/dev/null 2>&1 && (cd "$PACK/debs" && apt-get "${apt[@]}" download libvulkan1 libglvnd0 >/dev/null 2>&1); then
    say "carried $(ls "$PACK/debs")"
  else
    say 'could not download libvulkan1 and libglvnd0 (no network or apt here): the GPU machine must have a Vulkan loader of its own'
  fi
  # The device tool carries the working tree (tracked and untracked files that git does not ignore) and the
  # named ignored paths, 64 MiB together.
  local packed tree
  packed=$(du -sb "$PACK" | cut -f1)
  # (du skips, and fails on, tracked files deleted in the work tree: its total still counts the rest)
  tree=$(cd "$ROOT" && { git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null || true; } | tail -1 | cut -f1)
  say "packed $PACK: $((packed >> 20)) MiB; working tree $((tree >> 20)) MiB; together $(((packed + tree) >> 20)) MiB of the 64 MiB a device run carries (name .gpu-bench in carry)"
  [ $((packed + tree)) -le $((64 << 20)) ] || say 'WARNING: over 64 MiB together: the device tool would refuse the run'
}

# ---- on the GPU machine ----------------------------------------------------------------------------------

missing=()
dry=0
mode=bench
label=''
args=()
for a in "$@"; do
  case "$a" in
    pack) pack; exit 0 ;;
    kernels) mode=kernels ;;
    all) mode=all ;;
    --dry-run) dry=1 ;;
    --label=*) label="-${a#--label=}" ;;
    -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

node_ok() { "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; }

unxz_to() { # unxz_to <file.xz> <destination>: xz where installed, else Python's lzma
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  elif command -v python3 >/dev/null; then python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  else return 1; fi
}

# Node.
NODE=''
if command -v node >/dev/null && node_ok node; then NODE=$(command -v node)
elif [ -x "$WORK/node" ] && node_ok "$WORK/node"; then NODE="$WORK/node"
elif [ -f "$PACK/node.xz" ]; then
  if [ $dry = 1 ]; then NODE="$WORK/node (from .gpu-bench/node.xz)"
  else mkdir -p "$WORK" && unxz_to "$PACK/node.xz" "$WORK/node" && chmod +x "$WORK/node" && NODE="$WORK/node" \
    || missing+=('xz or python3 to unpack .gpu-bench/node.xz'); fi
else missing+=("Node.js ≥ 20: none on PATH and no .gpu-bench/node.xz (run 'scripts/gpu-bench.sh pack' where node_modules are, and carry .gpu-bench)"); fi

# The CLI: from source where node_modules are, else the carried bundle.
CLI=()
if [ -f "$ROOT/node_modules/tsx/dist/cli.mjs" ] && [ -e "$ROOT/packages/cli/node_modules/webgpu" ]; then
  CLI=("$ROOT/node_modules/tsx/dist/cli.mjs" "$ROOT/packages/cli/src/main.ts")
  how='from source (node_modules present)'
elif [ -f "$PACK/app/cli/bin/webmoe.mjs" ]; then
  CLI=("$PACK/app/cli/bin/webmoe.mjs")
  # The bundle lies deeper than packages/cli/src: it finds the checkout (the demo model, fixtures) by this.
  export WEBMOE_REPO_ROOT="$ROOT"
  how='the carried bundle (.gpu-bench/app)'
  dawn="$PACK/app/node_modules/webgpu/dist/linux-x64/dawn.node"
  if [ ! -f "$dawn" ] && [ -f "$dawn.xz" ] && [ $dry = 0 ]; then unxz_to "$dawn.xz" "$dawn" || missing+=('xz or python3 to unpack dawn.node.xz'); fi
  [ -f "$dawn" ] || [ -f "$dawn.xz" ] || missing+=("Dawn's Node addon (.gpu-bench/app/node_modules/webgpu/dist/linux-x64/dawn.node[.xz])")
else missing+=("the CLI: no node_modules (tsx, webgpu) and no .gpu-bench/app/cli/bin/webmoe.mjs (run 'scripts/gpu-bench.sh pack' and carry .gpu-bench)"); how='-'; fi

# The Vulkan loader and libglvnd's dispatch library: the system's, else the carried Debian packages unpacked
# under $WORK (never into /) and put on LD_LIBRARY_PATH.
has_lib() { # has_lib <soname>: installed, or in a folder of LD_LIBRARY_PATH
  # (grep without -q reads all of ldconfig's output: an early exit would fail the pipe under pipefail)
  ldconfig -p 2>/dev/null | grep "$1" >/dev/null && return 0
  local d
  for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }}; do [ -e "$d/$1" ] && return 0; done
  return 1
}
loader=''
if has_lib libvulkan.so.1 && has_lib libGLdispatch.so.0; then loader='system'
else
  debs=$(ls "$PACK"/debs/*.deb 2>/dev/null || true)
  if [ -n "$debs" ]; then
    loader="$WORK/vulkan (from $(echo $debs | xargs -n1 basename | tr '\n' ' '))"
    if [ $dry = 0 ]; then
      mkdir -p "$WORK/vulkan"
      for deb in $debs; do dpkg -x "$deb" "$WORK/vulkan"; done
      export LD_LIBRARY_PATH="$WORK/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
  elif has_lib libvulkan.so.1; then loader='system (no libGLdispatch.so.0: NVIDIA'"'"'s driver may fail to load)'
  fi
  [ -n "$loader" ] || missing+=("the Vulkan loader libvulkan.so.1: none installed and no .gpu-bench/debs/*.deb")
fi

# The Vulkan driver: an installed ICD, else NVIDIA's where the container mounts it.
icd=''
for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
  ls "$d"/*.json >/dev/null 2>&1 && icd="$d"
done
nv=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -n "${VK_ICD_FILENAMES:-}" ]; then icd="VK_ICD_FILENAMES=$VK_ICD_FILENAMES"
elif [ -z "$icd" ] && [ -f "$nv" ]; then
  export VK_ICD_FILENAMES="$nv" VK_DRIVER_FILES="$nv"
  icd="$nv"
fi
[ -n "$icd" ] || missing+=('a Vulkan driver: no ICD file in /usr/share/vulkan/icd.d, /etc/vulkan/icd.d or /usr/local/nvidia/share/vulkan/icd.d')

gpu=$(nvidia-smi -L 2>/dev/null | head -1 || true)
say "GPU:    ${gpu:-no nvidia-smi}"
say "node:   ${NODE:--}"
say "CLI:    $how"
say "loader: ${loader:--}"
say "driver: ${icd:--}"
if [ ${#missing[@]} -gt 0 ]; then
  for m in "${missing[@]}"; do say "MISSING: $m"; done
fi
cli=("$NODE" "${CLI[@]}")
case $mode in
  bench) say "would run: ${cli[*]} bench --runtime node --json ${args[*]}" ;;
  kernels) say "would run: ${cli[*]} kernels --json ${args[*]}" ;;
  all) say "would run: ${cli[*]} kernels --json, beside ${cli[*]} bench --runtime node --prepare-only ${args[*]}; then the bench with --json" ;;
esac
if [ $dry = 1 ] || [ ${#missing[@]} -gt 0 ]; then exit $(( ${#missing[@]} > 0 ? 1 : 0 )); fi

mkdir -p "$WORK" "$ROOT/packages/cli/results"
stamp=$(date -u +%Y%m%dT%H%M%S)

# run_json <what> <command…>: runs a CLI command whose last line of standard output is JSON; its standard error
# goes to the terminal and $WORK/<what>-<stamp>.log, the JSON to packages/cli/results/<adapter>[-what]-<date>.json
# (the adapter as the command reports it), both copied to $OUT when that is set. Returns the command's status.
run_json() {
  local what=$1 log="$WORK/$1-$stamp.log" rc file
  shift
  say "$what: running (log: $log)"
  set +e
  "$@" >"$log.out" 2> >(tee "$log" >&2)
  rc=$?
  set -e
  [ -n "${OUT:-}" ] && cp "$log" "$OUT/$what.log" 2>/dev/null || true
  file=$("$NODE" -e '
    const fs = require("node:fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").trim().split("\n");
    let r;
    try { r = JSON.parse(lines[lines.length - 1]); } catch { process.exit(0); }
    const name = r.adapter && typeof r.adapter === "object" ? `${r.adapter.vendor} ${r.adapter.architecture || r.adapter.device}` : r.adapter;
    const slug = String(name || "unknown-adapter").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 60);
    const suffix = process.argv[3] === "bench" ? "" : `-${process.argv[3]}`; // bench-NAME keeps its label
    const file = `${process.argv[2]}/${slug}${suffix}-${new Date().toISOString().slice(0, 10)}.json`;
    fs.writeFileSync(file, JSON.stringify(r, null, 1) + "\n");
    console.log(file);' "$log.out" "$ROOT/packages/cli/results" "$what")
  if [ -n "$file" ]; then
    say "$what: wrote $file"
    [ -n "${OUT:-}" ] && cp "$file" "$OUT/" || true
  fi
  if [ $rc != 0 ]; then
    say "$what: failed (exit $rc); its standard output: $log.out"
    [ -n "${OUT:-}" ] && cp "$log.out" "$OUT/$what.out" || true
  fi
  return $rc
}

case $mode in
  bench) run_json "bench$label" "${cli[@]}" bench --runtime node --json "${args[@]}" ;;
  kernels) run_json kernels "${cli[@]}" kernels --json "${args[@]}" ;;
  all)
    # The grids use the GPU and one core, the models' generation the other cores: together, then the bench
    # alone on the GPU. A failed grid is reported and does not stop the bench; nor does a slow one, stopped
    # after WEBMOE_KERNELS_TIMEOUT seconds (default 300; its log keeps the families that finished).
    run_json kernels timeout "${WEBMOE_KERNELS_TIMEOUT:-300}" "${cli[@]}" kernels --json &
    grids=$!
    "${cli[@]}" bench --runtime node --prepare-only "${args[@]}"
    krc=0
    wait $grids || krc=$?
    brc=0
    run_json "bench$label" "${cli[@]}" bench --runtime node --json "${args[@]}" || brc=$?
    say "kernels exit $krc, bench exit $brc"
    [ $krc = 0 ] && [ $brc = 0 ] ;;
esac
