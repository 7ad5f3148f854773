# The machine's own packages the project needs, in one list: the build of the
# C parts (runc's seccomp support, pause), the images' Debian files, the real
# node's network tools, and the example app's Python for its unit tests (the
# unit tests' promtool and amtool are built from the images' releases, see
# mk/upstream.mk), and curl and jq (the backup script's unit test, the drill's
# documented restore). On a Debian machine as root, missing ones are installed with
# apt-get (what a fresh machine needs to run `make up` and `make test`);
# elsewhere the command to run is printed.
HOST_PACKAGES := gcc libc6-dev pkg-config libseccomp-dev \
	mmdebstrap busybox-static ca-certificates tzdata netbase \
	iproute2 util-linux procps iptables ipset conntrack \
	python3 python3-uvicorn python3-prometheus-client python3-psycopg2 \
	curl jq

.PHONY: host-packages

host-packages: ## Install the Debian packages the builds, images, real node and tests need (root), or name them.
	@missing=$$(for p in $(HOST_PACKAGES); do dpkg-query -W -f='$${db:Status-Abbrev}' "$$p" 2>/dev/null | grep -q '^ii' || echo "$$p"; done | tr '\n' ' '); \
	if [[ -z "$${missing// /}" ]]; then exit 0; fi; \
	if [[ $$(id -u) == 0 ]] && command -v apt-get >/dev/null; then \
		echo "host-packages: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "host-packages: missing $$missing; install them: sudo apt-get install $$missing"; exit 1; \
	fi
