# The versions the e2e toolchain builds (sourced by e2e/toolchain.sh and read by e2e/run.ts).
# Bump one here and the next run builds it; the cache keeps each version in its own folder.
# shellcheck shell=bash disable=SC2034

E2E_VERSIONS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# The oldest Go that builds every module below (kwok, etcd and k3d's go.mod lines).
GO_MIN=1.26.3

# The Pulumi CLI: the version of @pulumi/pulumi in package.json, so engine and SDK match.
PULUMI_VERSION="$(sed -n 's/^[[:space:]]*"@pulumi\/pulumi": "\([0-9.]*\)",*$/\1/p' "$E2E_VERSIONS_DIR/../package.json")"

# pulumi-resource-kubernetes, installed under the version of @pulumi/kubernetes in package.json.
# The module proxy serves no build of that release's commit (pulumi-kubernetes tags only its
# SDK, so the provider module has pseudo-versions only, and the proxy here answers 403 for
# those of 4.34.2): the nearest one it serves is the commit of v4.25.0 (f47bc2d6f199, January
# 2026). The README says so.
K8S_PROVIDER_VERSION="$(sed -n 's/^[[:space:]]*"@pulumi\/kubernetes": "\([0-9.]*\)",*$/\1/p' "$E2E_VERSIONS_DIR/../package.json")"
K8S_PROVIDER_MODULE_VERSION=v4.0.0-20260115033456-f47bc2d6f199
K8S_PROVIDER_BUILT_FROM=v4.25.0
K8S_PROVIDER_SDK_VERSION=v4.25.0

# The command and random providers: stand-ins (e2e/plugins), because the module proxy serves no
# version of pulumi-command's or pulumi-random's provider module; installed under the versions
# the SDKs in package.json ask for.
COMMAND_VERSION="$(sed -n 's/^[[:space:]]*"@pulumi\/command": "\([0-9.]*\)",*$/\1/p' "$E2E_VERSIONS_DIR/../package.json")"
RANDOM_VERSION="$(sed -n 's/^[[:space:]]*"@pulumi\/random": "\([0-9.]*\)",*$/\1/p' "$E2E_VERSIONS_DIR/../package.json")"

# The control plane: etcd 3.6 and Kubernetes 1.35 (the minor of the k3s image the dev stack runs).
ETCD_VERSION=3.6.16
KUBERNETES_VERSION=1.35.4
KWOK_VERSION=0.8.0

# k3d: the oldest and the newest release the README supports (5.5 and later), and the k3s image it
# defaults to. 5.5.x cannot be built here (it needs inet.af/netaddr, which the module proxy does
# not serve), so the oldest built is 5.6.0; 5.9.0 reads K3D_* variables from the environment
# (viper, since 5.7.5), which the older one does not.
K3D_OLDEST=5.6.0
K3D_NEWEST=5.9.0
K3S_TAG=v1.35.5-k3s1
