#!/usr/bin/env bash
# Builds the e2e toolchain from Go modules, the way `npm ci` installs JavaScript: each tool at the
# version the project pins (e2e/versions.sh), into a cache folder outside the repository, keyed by
# version, so a warm run builds nothing. Nothing is downloaded but Go modules from the module proxy.
#
#   bash e2e/toolchain.sh            build what is missing, then print the cache folder
#   PLATFORM_E2E_CACHE=/some/dir     put the cache there (default ~/.cache/platform-e2e)
#
# Each step prints one line when it starts and one with the seconds it took ("cached" when its
# binary is already there). Built binaries never go into the repository.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$E2E_DIR")"
# shellcheck source=e2e/versions.sh
source "$E2E_DIR/versions.sh"

CACHE="${PLATFORM_E2E_CACHE:-$HOME/.cache/platform-e2e}"
BIN="$CACHE/bin"
WORK="$CACHE/work"
mkdir -p "$BIN" "$WORK"
export GOFLAGS="-mod=mod -buildvcs=false -trimpath"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

command -v go >/dev/null || { echo "e2e toolchain: go is not on PATH; install Go $GO_MIN or later (https://go.dev/dl/)" >&2; exit 1; }
go_version="$(go env GOVERSION | sed 's/^go//')"
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$go_version" | sort -V | head -1)" != "$GO_MIN" ]; then
  echo "e2e toolchain: go $go_version is too old; the pinned modules need Go $GO_MIN or later" >&2
  exit 1
fi

step_started=0
step() { # step NAME: announce a build step
  step_started=$SECONDS
  printf 'toolchain: %-34s ' "$1"
}
cached_steps=0
done_step() { printf '%4ss\n' "$((SECONDS - step_started))"; }

# have FILE...: true when every file is already built (the cache is keyed by version).
have() {
  local f
  for f in "$@"; do [ -x "$f" ] || return 1; done
  cached_steps=$((cached_steps + 1))
  printf 'cached\n'
}

# scratch NAME: a fresh scratch module folder to build from (its go.mod requires what is built).
scratch() {
  local dir="$WORK/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && go mod init "platform-e2e/$1" >/dev/null 2>&1 && go mod edit -go="$GO_MIN")
  printf '%s' "$dir"
}

# build DIR OUT LDFLAGS PKG...: go build in DIR, the binaries into OUT (a folder), atomically.
build() {
  local dir="$1" out="$2" ldflags="$3"
  shift 3
  local tmp="$out.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local log="$WORK/build-$(basename "$out").log"
  if ! (cd "$dir" && go build -ldflags "-s -w $ldflags" -o "$tmp/" "$@") >"$log" 2>&1; then
    echo "FAILED"
    tail -30 "$log" >&2
    echo "e2e toolchain: building $* failed; the whole log is $log" >&2
    exit 1
  fi
  rm -rf "$out"
  mv "$tmp" "$out"
}

# get DIR MODULE@VERSION...: `go get` in a scratch module, with the log's end on failure.
get() {
  local dir="$1"
  shift
  if ! (cd "$dir" && go get "$@") >"$dir/get.log" 2>&1; then
    echo "FAILED"
    grep -v '^go: downloading' "$dir/get.log" | tail -20 >&2
    echo "e2e toolchain: go get $* failed (is the module proxy reachable, and does it serve these versions?); log: $dir/get.log" >&2
    exit 1
  fi
}

# module_dir MODULE@VERSION: the read-only folder of a downloaded module.
module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

# --- the Pulumi CLI -------------------------------------------------------------------------
pulumi_cli() {
  local out="$BIN/pulumi-$PULUMI_VERSION"
  step "pulumi CLI v$PULUMI_VERSION"
  have "$out/pulumi" && return
  local dir
  dir="$(scratch "pulumi-$PULUMI_VERSION")"
  # pkg/v3 builds against the sdk/v3 of its own commit (its go.mod replaces it with ../sdk) and
  # replaces one dependency with a fork; a scratch module has to say both itself.
  (cd "$dir" && go mod edit \
    -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" \
    -require="github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
    -replace="github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e")
  get "$dir" "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$PULUMI_VERSION"
  build "$dir" "$out" "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  done_step
}

# --- pulumi-resource-kubernetes -------------------------------------------------------------
kubernetes_provider() {
  local out="$BIN/pulumi-resource-kubernetes-$K8S_PROVIDER_VERSION"
  step "kubernetes provider $K8S_PROVIDER_VERSION"
  have "$out/pulumi-resource-kubernetes" && return
  local src dir="$WORK/pulumi-kubernetes-$K8S_PROVIDER_VERSION"
  src="$(module_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$K8S_PROVIDER_MODULE_VERSION")"
  # The module embeds a schema that its generate.go writes at build time, and replaces its SDK
  # with ../sdk (not in the module): build a writable copy without that replace.
  rm -rf "$dir"
  cp -r "$src" "$dir"
  chmod -R u+w "$dir"
  (cd "$dir" && go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4 \
    -require="github.com/pulumi/pulumi-kubernetes/sdk/v4@$K8S_PROVIDER_SDK_VERSION" &&
    cd cmd/pulumi-resource-kubernetes && VERSION="$K8S_PROVIDER_VERSION" go run generate.go) >"$dir/generate.log" 2>&1 || {
    echo "FAILED"
    tail -20 "$dir/generate.log" >&2
    exit 1
  }
  build "$dir" "$out" "-X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$K8S_PROVIDER_VERSION" \
    ./cmd/pulumi-resource-kubernetes
  done_step
}

# --- etcd -----------------------------------------------------------------------------------
etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  step "etcd v$ETCD_VERSION"
  have "$out/etcd" && return
  local dir
  dir="$(scratch "etcd-$ETCD_VERSION")"
  # server/v3's go.mod points its sibling modules at ../api and the like; require the published
  # ones at the same version instead.
  (cd "$dir" && go mod edit \
    -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION" \
    -require="go.etcd.io/etcd/api/v3@v$ETCD_VERSION" \
    -require="go.etcd.io/etcd/client/pkg/v3@v$ETCD_VERSION" \
    -require="go.etcd.io/etcd/client/v3@v$ETCD_VERSION" \
    -require="go.etcd.io/etcd/pkg/v3@v$ETCD_VERSION")
  get "$dir" "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  build "$dir" "$out" "-X go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION" go.etcd.io/etcd/server/v3
  mv "$out/server" "$out/etcd" # go names the binary after the package path (…/server/v3)
  done_step
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl -----------------------
kubernetes() {
  local out="$BIN/kubernetes-$KUBERNETES_VERSION"
  step "kubernetes v$KUBERNETES_VERSION"
  have "$out/kube-apiserver" "$out/kube-controller-manager" "$out/kube-scheduler" "$out/kubectl" && return
  local dir src
  dir="$(scratch "kubernetes-$KUBERNETES_VERSION")"
  src="$(module_dir "k8s.io/kubernetes@v$KUBERNETES_VERSION")"
  # k8s.io/kubernetes replaces each k8s.io/* staging module with ./staging/src/... (not in the
  # module zip): point each at its published v0.<minor>.<patch> instead.
  local staging="v0.${KUBERNETES_VERSION#1.}"
  local edits=(-require="k8s.io/kubernetes@v$KUBERNETES_VERSION")
  local m
  for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$src/go.mod"); do
    edits+=(-replace="$m=$m@$staging")
  done
  (cd "$dir" && go mod edit "${edits[@]}")
  get "$dir" "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBERNETES_VERSION"
  # /version must report the real release (Helm checks charts' kubeVersion against it).
  local commit v="k8s.io/component-base/version" cv="k8s.io/client-go/pkg/version"
  commit="$(printf '%040d' 0)"
  local ld="" pkg
  for pkg in "$v" "$cv"; do
    ld+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
    ld+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  build "$dir" "$out" "$ld" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
  done_step
}

# --- kwok: fake nodes -----------------------------------------------------------------------
kwok() {
  local out="$BIN/kwok-$KWOK_VERSION"
  step "kwok v$KWOK_VERSION"
  have "$out/kwok" && [ -d "$out/stages" ] && return
  local dir
  dir="$(scratch "kwok-$KWOK_VERSION")"
  get "$dir" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
  build "$dir" "$out" "-X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok
  # kwok runs only the lifecycle stages it is given: its own "fast" node and pod stages, and the
  # node heartbeat, from the module at the same version.
  local src
  src="$(module_dir "sigs.k8s.io/kwok@v$KWOK_VERSION")"
  mkdir -p "$out/stages"
  cp "$src"/kustomize/stage/node/fast/node-initialize.yaml "$src"/kustomize/stage/node/heartbeat/node-heartbeat.yaml \
    "$src"/kustomize/stage/pod/fast/pod-*.yaml "$out/stages/"
  done_step
}

# --- k3d, the oldest and newest versions the README supports --------------------------------
k3d() {
  local version="$1" out="$BIN/k3d-$1"
  step "k3d v$version"
  have "$out/k3d" && return
  local dir
  dir="$(scratch "k3d-$version")"
  get "$dir" "github.com/k3d-io/k3d/v5@v$version"
  build "$dir" "$out" "-X github.com/k3d-io/k3d/v5/version.Version=v$version -X github.com/k3d-io/k3d/v5/version.K3sVersion=$K3S_TAG" \
    github.com/k3d-io/k3d/v5
  done_step
}

# --- what is built from this project's own Go modules (e2e/plugins/, e2e/lua/) -----------------
# source_dir NAME SRC: $BIN/NAME-<hash of SRC's Go source>, so an edit rebuilds it.
source_dir() {
  printf '%s/%s-%s' "$BIN" "$1" "$(cd "$2" &&
    find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 |
    sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
}

# --- stand-ins for the plugins the module proxy does not serve -------------------------------
# pulumi-language-nodejs, pulumi-resource-command and pulumi-resource-random (e2e/plugins/).
stand_ins_dir() { source_dir stand-ins "$E2E_DIR/plugins"; }
stand_ins() {
  local out key
  out="$(stand_ins_dir)"
  key="${out##*-}"
  step "stand-in plugins ($key)"
  have "$out/pulumi-language-nodejs" "$out/pulumi-resource-command" "$out/pulumi-resource-random" && return
  build "$E2E_DIR/plugins" "$out" \
    "-X main.version=$PULUMI_VERSION" ./cmd/pulumi-language-nodejs
  local tmp="$out.more"
  build "$E2E_DIR/plugins" "$tmp" "" ./cmd/pulumi-resource-command ./cmd/pulumi-resource-random
  mv "$tmp"/* "$out/"
  rmdir "$tmp"
  done_step
}

# --- Argo CD's Lua health checks on Argo CD's own interpreter (e2e/lua/, gopher-lua) ------------
# Older builds are removed.
argocd_lua_dir() { source_dir argocd-lua "$E2E_DIR/lua"; }
argocd_lua() {
  local out d
  out="$(argocd_lua_dir)"
  step "argocd-health-lua (${out##*-})"
  have "$out/argocd-health-lua" && return
  build "$E2E_DIR/lua" "$out" "" ./cmd/argocd-health-lua
  for d in "$BIN"/argocd-lua-*; do [ "$d" = "$out" ] || rm -rf "$d"; done
  done_step
}

# --- the CLI with its language host beside it --------------------------------------------------
# The CLI takes the Node.js language host from its own folder (as a release ships them); one on
# PATH instead draws a warning on every run. Hard links: no copy of the binaries.
cli_dir() { printf '%s/cli-%s-%s' "$BIN" "$PULUMI_VERSION" "$(basename "$(stand_ins_dir)" | sed 's/^stand-ins-//')"; }
cli_bundle() {
  local out
  out="$(cli_dir)"
  step "CLI with its language host"
  have "$out/pulumi" "$out/pulumi-language-nodejs" && return
  rm -rf "$out.tmp"
  mkdir -p "$out.tmp"
  ln "$BIN/pulumi-$PULUMI_VERSION/pulumi" "$out.tmp/pulumi" 2>/dev/null || cp "$BIN/pulumi-$PULUMI_VERSION/pulumi" "$out.tmp/pulumi"
  ln "$(stand_ins_dir)/pulumi-language-nodejs" "$out.tmp/" 2>/dev/null || cp "$(stand_ins_dir)/pulumi-language-nodejs" "$out.tmp/"
  rm -rf "$out"
  mv "$out.tmp" "$out"
  # Older stand-in builds, and the CLI folders made for them, are of no more use.
  local d
  for d in "$BIN"/stand-ins-* "$BIN"/cli-*; do
    case "$d" in "$(stand_ins_dir)" | "$out") ;; *) rm -rf "$d" ;; esac
  done
  done_step
}

# --- a private PULUMI_HOME with the provider plugins installed --------------------------------
# The versions are the ones the program's SDKs ask for (package.json), whatever they were built
# from. A marker per plugin names the binary installed, so a rebuilt binary is installed again.
pulumi_home() {
  local home="$CACHE/pulumi-home" cli="$BIN/pulumi-$PULUMI_VERSION/pulumi" name version file marker
  step "plugins into $home"
  local stand_in
  stand_in="$(stand_ins_dir)"
  local did=0
  for entry in \
    "kubernetes $K8S_PROVIDER_VERSION $BIN/pulumi-resource-kubernetes-$K8S_PROVIDER_VERSION/pulumi-resource-kubernetes" \
    "command $COMMAND_VERSION $stand_in/pulumi-resource-command" \
    "random $RANDOM_VERSION $stand_in/pulumi-resource-random"; do
    read -r name version file <<<"$entry"
    marker="$home/installed-$name-$version"
    [ -f "$marker" ] && [ "$(cat "$marker")" = "$file" ] && continue
    PULUMI_HOME="$home" "$cli" plugin install resource "$name" "$version" --file "$file" --reinstall \
      >"$WORK/plugin-$name.log" 2>&1 || {
      echo "FAILED"
      cat "$WORK/plugin-$name.log" >&2
      exit 1
    }
    printf '%s' "$file" >"$marker"
    did=1
  done
  [ "$did" = 1 ] && done_step || printf 'cached\n'
}

total_started=$SECONDS
only="${1:-all}"
case "$only" in
  all)
    pulumi_cli
    kubernetes_provider
    etcd
    kubernetes
    kwok
    stand_ins
    cli_bundle
    pulumi_home
    k3d "$K3D_OLDEST"
    k3d "$K3D_NEWEST"
    argocd_lua
    ;;
  *) "$only" "${@:2}" ;;
esac
printf 'toolchain: %-34s %4ss\n' "ready in $CACHE" "$((SECONDS - total_started))"
# A build from an empty cache is the cold build the e2e reports (with the Go caches it had).
if [ "$only" = all ] && [ "$cached_steps" = 0 ]; then
  printf '{"seconds": %s, "at": "%s", "go": "%s"}\n' "$((SECONDS - total_started))" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$go_version" >"$CACHE/cold-build.json"
fi
# For the e2e harness: where the CLI (with its language host) is.
[ "$only" = all ] && printf 'toolchain: cli %s\n' "$(cli_dir)"
[ "$only" = all ] && printf 'toolchain: argocd-health-lua %s\n' "$(argocd_lua_dir)/argocd-health-lua"
