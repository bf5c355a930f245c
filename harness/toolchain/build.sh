#!/usr/bin/env bash
# Builds the offline cluster toolchain (OpenTofu; the Kubernetes API server, controller manager,
# scheduler and kubectl; etcd; kwok and kwokctl) from the pinned wrapper Go modules beside this
# script, once, into a cache folder outside the checkout; then the pieces of a real node (the
# kubelet, containerd with its runc shim and ctr, a static pause program; runc, the CNI plugins
# and iptables from Debian packages, installed with apt-get when missing):
#
#   ${GPU_DEV_TOOLCHAIN_DIR:-$HOME/.cache/gpu-dev-toolchain}/
#     <key>/bin/               the binaries (runc: a link to the Debian package's)
#     <key>/cni/               links to the Debian package's CNI plugins (bridge, host-local, loopback)
#     <key>/tofurc             OpenTofu CLI config (TF_CLI_CONFIG_FILE): the providers from ../providers
#     <key>/kwokctl.yaml       kwokctl config: binary runtime, these binaries, 127.0.0.1 only
#     <key>/kwok-stages.yaml   kwok's default Stages plus its chaos stages (container failure, exit code)
#     providers/               filesystem mirror of Terraform providers, unpacked layout; beside the
#                              keys, so a change of the toolchain never loses it
#
# <key> is a short hash of versions.env, the wrapper go.mod/go.sum files and this script, so a
# version or build-flag change builds into a new folder (quickly: the Go build cache is kept) and
# an unchanged one is reused. Each piece is built to a temporary folder, moved into place, then
# marked done; a piece already done is skipped.
#
#   test/cluster/toolchain/build.sh              build what is missing; progress on stderr; the
#                                                last stdout line is the absolute path of <key>
#   test/cluster/toolchain/build.sh --print-dir  print that path without building; exit 0 when
#                                                every piece of the control plane and OpenTofu is
#                                                there, 1 when not (the node pieces not counted)
#   test/cluster/toolchain/build.sh --node-missing
#                                                print the node pieces that are not there, one a
#                                                line, without building; exit 0 when none is missing
#
# The Terraform providers hashicorp/kubernetes and hashicorp/random are not built here: no
# registry these machines reach serves them (README.md). Given a binary of one in
# GPU_DEV_PROVIDER_KUBERNETES_BIN, GPU_DEV_PROVIDER_KUBERNETES_V3_BIN or GPU_DEV_PROVIDER_RANDOM_BIN,
# the script copies it into the mirror; a binary already there stays. Without one it says so.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src="$here"

log() { printf '[cluster-toolchain] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mode=build
case "${1:-}" in
  '') ;;
  --print-dir) mode=print ;;
  --node-missing) mode=node-missing ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument: $1 (use --print-dir, --node-missing or nothing)" ;;
esac

# shellcheck source=cluster-toolchain/versions.env
. "$src/versions.env"
for v in OPENTOFU_VERSION PROVIDER_KUBERNETES_VERSION PROVIDER_KUBERNETES_V3_VERSION PROVIDER_RANDOM_VERSION KUBERNETES_VERSION KUBERNETES_STAGING_VERSION ETCD_VERSION KWOK_VERSION CONTAINERD_VERSION; do
  [[ -n "${!v:-}" ]] || die "versions.env does not set $v"
done

# --- go.mod files must agree with versions.env --------------------------------------------------
# The version a go.mod requires for a module (a "require" line, in or out of a block).
required() { # file module
  awk -v m="$2" '$1 == "require" && $2 == m { print $3; exit } $1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}
mismatch=0
expect() { # piece module version
  local got
  got=$(required "$src/$1/go.mod" "$2")
  if [[ "$got" != "$3" ]]; then
    log "test/cluster/toolchain/$1/go.mod requires $2 ${got:-(nothing)}, versions.env says $3"
    mismatch=1
  fi
}
expect tofu github.com/opentofu/opentofu "$OPENTOFU_VERSION"
expect kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION"
expect etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
expect kwok sigs.k8s.io/kwok "$KWOK_VERSION"
expect containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
# Every k8s.io staging module is replaced by the staging release matching KUBERNETES_VERSION.
bad_staging=$(awk -v want="$KUBERNETES_STAGING_VERSION" '
  $2 == "=>" && $1 ~ /^k8s\.io\// && $4 != want { print $1 " => " $3 " " $4 }
  $1 == "replace" && $3 == "=>" && $2 ~ /^k8s\.io\// && $5 != want { print $2 " => " $4 " " $5 }' "$src/kubernetes/go.mod")
if [[ -n "$bad_staging" ]]; then
  log "test/cluster/toolchain/kubernetes/go.mod replaces staging modules at a version other than KUBERNETES_STAGING_VERSION=$KUBERNETES_STAGING_VERSION:"
  sed 's/^/  /' <<<"$bad_staging" >&2
  mismatch=1
fi
k8s_minor_patch=${KUBERNETES_VERSION#v1.}
[[ "$KUBERNETES_STAGING_VERSION" == "v0.$k8s_minor_patch" ]] \
  || { log "KUBERNETES_STAGING_VERSION=$KUBERNETES_STAGING_VERSION does not match KUBERNETES_VERSION=$KUBERNETES_VERSION (want v0.$k8s_minor_patch)"; mismatch=1; }
((mismatch == 0)) || die "versions.env and the wrapper go.mod files disagree: edit one to match the other (then run go mod tidy in that folder)"

# --- the cache folder ------------------------------------------------------------------------------
key=$(
  {
    echo "== build.sh"; cat "${BASH_SOURCE[0]}"
    for f in versions.env tofu/go.mod tofu/go.sum kubernetes/go.mod kubernetes/go.sum etcd/go.mod etcd/go.sum kwok/go.mod kwok/go.sum \
             containerd/go.mod containerd/go.sum pause/go.mod pause/main.go; do
      echo "== $f"; cat "$src/$f"
    done
  } | sha256sum | cut -c1-12
)
root=${GPU_DEV_TOOLCHAIN_DIR:-$HOME/.cache/gpu-dev-toolchain}
mkdir -p "$root"
root=$(cd "$root" && pwd)
dir="$root/$key"

pieces=(tofu etcd kwok kubernetes)
# A real node's pieces: built after the ones above, so a kwok-only suite runs without them.
# "runtime" is runc, the CNI plugins and iptables from Debian packages, linked into <key>.
node_pieces=(kubelet containerd pause runtime)
cni_plugins=(bridge host-local loopback)
binaries_of() {
  case "$1" in
    tofu) echo tofu ;;
    etcd) echo etcd ;;
    kwok) echo kwok kwokctl ;;
    kubernetes) echo kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    kubelet) echo kubelet ;;
    containerd) echo containerd containerd-shim-runc-v2 ctr ;;
    pause) echo pause ;;
    runtime) echo runc ;;
  esac
}
is_done() { # piece
  [[ -f "$dir/.done/$1" ]] || return 1
  [[ $1 != kwok || -f "$dir/kwok-stages.yaml" ]] || return 1
  local b
  for b in $(binaries_of "$1"); do [[ -x "$dir/bin/$b" ]] || return 1; done
  if [[ $1 == runtime ]]; then
    for b in "${cni_plugins[@]}"; do [[ -x "$dir/cni/$b" ]] || return 1; done
    PATH=$PATH:/usr/sbin:/sbin command -v iptables >/dev/null || return 1
  fi
}
providers="$root/providers"
provider_path() { # host name version
  echo "$providers/$1/hashicorp/$2/$3/linux_amd64/terraform-provider-$2_v$3"
}

if [[ $mode == print ]]; then
  echo "$dir"
  for p in "${pieces[@]}"; do is_done "$p" || exit 1; done
  [[ -f "$dir/tofurc" && -f "$dir/kwokctl.yaml" ]] || exit 1
  exit 0
fi
if [[ $mode == node-missing ]]; then
  missing=0
  for p in "${node_pieces[@]}"; do is_done "$p" || { echo "$p"; missing=1; }; done
  exit $missing
fi

command -v go >/dev/null || die "go is not on the PATH (Go 1.26 expected at /usr/local/go/bin)"
mkdir -p "$dir/bin" "$dir/.done" "$dir/.tmp"
log "toolchain folder: $dir"

# --- building ----------------------------------------------------------------------------------
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
# Leave GOCACHE/GOMODCACHE at their defaults, so a second key or a rebuild reuses compiled packages.

# Kubernetes binaries report this version (as its own release build does, hack/lib/version.sh),
# for kubectl version checks and the API server's /version.
k8s_major=1
k8s_minor=${k8s_minor_patch%%.*}
k8s_version_flags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_version_flags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$k8s_major -X $p.gitMinor=$k8s_minor"
  k8s_version_flags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build_piece() { # piece
  local piece=$1 tmp start b
  tmp=$(mktemp -d "$dir/.tmp/$piece.XXXXXX")
  start=$SECONDS
  log "building $piece ($(binaries_of "$piece")) ..."
  (
    # The kubelet comes from the control plane's wrapper module; every other piece has its own.
    cd "$src/$([[ $piece == kubelet ]] && echo kubernetes || echo "$piece")" || exit 1
    case "$piece" in
      tofu)
        # dev=no: report "OpenTofu v1.10.10" as the release build does, not "v1.10.10-dev".
        go build -trimpath -ldflags='-s -w -X github.com/opentofu/opentofu/version.dev=no' -o "$tmp/tofu" github.com/opentofu/opentofu/cmd/tofu ;;
      etcd)
        go build -trimpath -ldflags='-s -w' -o "$tmp/etcd" go.etcd.io/etcd/server/v3 ;;
      kwok)
        go build -trimpath -ldflags='-s -w' -o "$tmp/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl ;;
      kubernetes)
        go build -trimpath -ldflags="-s -w$k8s_version_flags" -o "$tmp/" \
          k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
          k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ;;
      kubelet)
        # Same wrapper module as the control plane. Not in its go.mod's tool block (listing it
        # there makes go mod tidy add requirements); its four extra go.sum lines come from
        # `go mod download k8s.io/cri-streaming go.opentelemetry.io/contrib/instrumentation/github.com/emicklei/go-restful/otelrestful`.
        go build -trimpath -ldflags="-s -w$k8s_version_flags" -o "$tmp/" k8s.io/kubernetes/cmd/kubelet ;;
      containerd)
        go build -trimpath -ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION" -o "$tmp/" \
          github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
          github.com/containerd/containerd/v2/cmd/ctr ;;
      pause)
        go build -trimpath -ldflags='-s -w' -o "$tmp/pause" . ;;
    esac
  ) || { rm -rf "$tmp"; die "building $piece failed"; }
  for b in $(binaries_of "$piece"); do
    [[ -x "$tmp/$b" ]] || { rm -rf "$tmp"; die "building $piece made no $b"; }
    mv -f "$tmp/$b" "$dir/bin/$b"
  done
  if [[ $piece == kwok ]]; then
    # kwok's own Stage definitions, for a kwokctl config that adds a stage: any Stage in the
    # config replaces kwokctl's built-in defaults, so the file carries the defaults too.
    local stages
    stages=$(cd "$src/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
    {
      echo "# kwok $KWOK_VERSION Stages (copied from the sigs.k8s.io/kwok module by test/cluster/toolchain/build.sh):"
      echo "# kwokctl's defaults (node-initialize, node-heartbeat-with-lease, pod-ready, pod-complete, pod-delete)"
      echo "# plus the chaos stages pod-container-running-failed and pod-init-container-running-failed."
      for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
               pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
               pod/chaos/pod-container-running-failed.yaml pod/chaos/pod-init-container-running-failed.yaml; do
        echo "---"; cat "$stages/$f"
      done
    } > "$tmp/kwok-stages.yaml" || { rm -rf "$tmp"; die "copying kwok's stages failed"; }
    mv -f "$tmp/kwok-stages.yaml" "$dir/kwok-stages.yaml"
  fi
  rm -rf "$tmp"
  date -u +%FT%TZ > "$dir/.done/$piece"
  log "built $piece in $((SECONDS - start)) s"
}

total_start=$SECONDS
for p in "${pieces[@]}"; do
  if is_done "$p"; then
    log "$p: already built, skipped"
  else
    build_piece "$p"
  fi
done

# --- the providers and the OpenTofu CLI config -------------------------------------------------
mirror_provider() { # name version variable-naming-a-binary
  local name=$1 version=$2 variable=$3 host target
  local bin=${!variable:-}
  if [[ -n "$bin" ]]; then
    [[ -x "$bin" ]] || die "$variable=$bin is not an executable file"
    for host in registry.opentofu.org registry.terraform.io; do
      target=$(provider_path "$host" "$name" "$version")
      mkdir -p "$(dirname "$target")"
      cp "$bin" "$target.tmp" && chmod 0755 "$target.tmp" && mv -f "$target.tmp" "$target"
    done
    log "provider hashicorp/$name $version: copied from $variable"
  elif [[ -x "$(provider_path registry.opentofu.org "$name" "$version")" && -x "$(provider_path registry.terraform.io "$name" "$version")" ]]; then
    log "provider hashicorp/$name $version: present in $providers"
  else
    log "warning: no hashicorp/$name $version provider binary in $providers: no registry here serves it;"
    log "         set $variable to a terraform-provider-${name}_v$version built from its public source and run again"
  fi
}
mirror_provider kubernetes "$PROVIDER_KUBERNETES_VERSION" GPU_DEV_PROVIDER_KUBERNETES_BIN
mirror_provider kubernetes "$PROVIDER_KUBERNETES_V3_VERSION" GPU_DEV_PROVIDER_KUBERNETES_V3_BIN
mirror_provider random "$PROVIDER_RANDOM_VERSION" GPU_DEV_PROVIDER_RANDOM_BIN

# OpenTofu reads these providers from the unpacked filesystem mirror only: no registry is
# contacted for them (sources "kubernetes", "hashicorp/kubernetes" and the full
# registry.terraform.io/… name all match); any other provider is looked up directly as usual.
# Without this file (TF_CLI_CONFIG_FILE unset) tofu init gets them from the registry.
mirrored='"registry.opentofu.org/hashicorp/kubernetes", "registry.terraform.io/hashicorp/kubernetes", "registry.opentofu.org/hashicorp/random", "registry.terraform.io/hashicorp/random"'
cat > "$dir/.tmp/tofurc" <<EOF
# OpenTofu CLI configuration (TF_CLI_CONFIG_FILE) written by test/cluster/toolchain/build.sh
provider_installation {
  filesystem_mirror {
    path    = "$providers"
    include = [$mirrored]
  }
  direct {
    exclude = [$mirrored]
  }
}
EOF
mv -f "$dir/.tmp/tofurc" "$dir/tofurc"

# kwokctl configuration: binary runtime with the binaries above (kwokctl downloads nothing when
# every binary it starts is a local path), every component listening on 127.0.0.1 only.
# Use: kwokctl create cluster --config "$dir/kwokctl.yaml" [--config more.yaml] --kubeconfig ""
cat > "$dir/.tmp/kwokctl.yaml" <<EOF
# kwokctl configuration written by test/cluster/toolchain/build.sh
kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeVersion: $KUBERNETES_VERSION
  etcdBinary: $dir/bin/etcd
  kubeApiserverBinary: $dir/bin/kube-apiserver
  kubeControllerManagerBinary: $dir/bin/kube-controller-manager
  kubeSchedulerBinary: $dir/bin/kube-scheduler
  kwokControllerBinary: $dir/bin/kwok
  kubectlBinary: $dir/bin/kubectl
EOF
mv -f "$dir/.tmp/kwokctl.yaml" "$dir/kwokctl.yaml"

# --- a real node's pieces ----------------------------------------------------------------------
# runc, the CNI plugins, iptables and ip come from Debian packages (runc needs cgo and libseccomp
# for seccomp profiles; the plugins and iptables are what the host has). Installed only when
# missing, as root with apt-get; otherwise a warning, and the node cases are skipped.
install_runtime() {
  local need=() p start=$SECONDS
  export PATH=$PATH:/usr/sbin:/sbin
  command -v runc >/dev/null || need+=(runc)
  for p in "${cni_plugins[@]}"; do
    [[ -x /usr/lib/cni/$p ]] || { need+=(containernetworking-plugins); break; }
  done
  command -v iptables >/dev/null || need+=(iptables)
  command -v ip >/dev/null || need+=(iproute2)
  if ((${#need[@]} > 0)); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
      log "warning: the node needs the Debian packages ${need[*]}: install them (apt-get install ${need[*]}) and run again; until then the node cases are skipped"
      return 0
    fi
    log "installing the Debian packages ${need[*]} (apt-get update, apt-get install -y) ..."
    apt-get update >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
  fi
  mkdir -p "$dir/cni"
  ln -sfn "$(command -v runc)" "$dir/bin/runc"
  for p in "${cni_plugins[@]}"; do ln -sfn "/usr/lib/cni/$p" "$dir/cni/$p"; done
  date -u +%FT%TZ > "$dir/.done/runtime"
  log "runtime (runc $(runc --version | awk 'NR == 1 { print $3 }'), CNI plugins, iptables) in $((SECONDS - start)) s"
}
for p in "${node_pieces[@]}"; do
  if is_done "$p"; then
    log "$p: already built, skipped"
  elif [[ $p == runtime ]]; then
    install_runtime
  else
    build_piece "$p"
  fi
done
rmdir "$dir/.tmp" 2>/dev/null || true

log "done in $((SECONDS - total_start)) s"
echo "$dir"
