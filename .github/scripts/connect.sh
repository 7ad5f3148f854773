#!/usr/bin/env bash
# Usage: connect.sh SECRET_NAME, with the kubeconfig in KUBECONFIG_DATA.
#
# Points the rest of the job at a stack's cluster and state: writes the
# kubeconfig secret to a private file and exports KUBECONFIG through
# GITHUB_ENV. It fails before any deploy command runs when a secret is
# missing, because the deploy command would otherwise fall back to defaults
# that look like success: without PULUMI_BACKEND_URL it keeps state in a
# file backend on the runner, thrown away with the job (so every up would
# create the stack from scratch), and without KUBECONFIG it deploys dev to a
# throwaway local cluster it starts on the runner.
set -euo pipefail

secret=${1:?usage: connect.sh SECRET_NAME (the kubeconfig secret, passed in KUBECONFIG_DATA)}

missing=()
[[ -n ${KUBECONFIG_DATA:-} ]] || missing+=("$secret")
[[ -n ${PULUMI_BACKEND_URL:-} ]] || missing+=(PULUMI_BACKEND_URL)
[[ -n ${PULUMI_CONFIG_PASSPHRASE:-} ]] || missing+=(PULUMI_CONFIG_PASSPHRASE)
if ((${#missing[@]} > 0)); then
	for name in "${missing[@]}"; do
		echo "::error title=Missing secret::$name is empty; set it under Settings > Secrets and variables > Actions (or in this job's environment)"
	done
	exit 1
fi

kubeconfig="$RUNNER_TEMP/kubeconfig"
# The kubeconfig holds cluster credentials: readable by this user only.
(
	umask 077
	printf '%s\n' "$KUBECONFIG_DATA" >"$kubeconfig"
)
echo "KUBECONFIG=$kubeconfig" >>"$GITHUB_ENV"
echo "connect: KUBECONFIG=$kubeconfig (from $secret)"
