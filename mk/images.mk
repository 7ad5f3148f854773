# Container images for the local cluster's real node, which has no registry
# access: every image the program's manifests use is assembled here by
# bin/nexios-images (tools/images, go-containerregistry) from the binaries
# mk/upstream.mk builds into $(UPSTREAM_BIN), Go module files, examples/app
# and Debian's files, and written to $(IMAGES_DIR)/<name>.tar, a
# docker-archive tagged with the reference the manifests use (`ctr -n k8s.io
# images import FILE`). `bin/nexios-images list -bin-dir bin` prints each
# reference and its tarball.
#
# bin/nexios-images is stamped like the tools in mk/tools.mk. Each image is
# stamped in $(IMAGES_DIR)/.stamps/<name> with a hash of everything in it
# (input digests, layout, config) and rewritten only when that changes; input
# digests are remembered by size, times and inode, so a second `make images`
# only stats its inputs. The Debian root filesystems (the example app's and
# PostgreSQL's) are made by mmdebstrap (apt access needed, about 2 minutes
# each) once per package list and kept in $(IMAGES_ROOTFS_CACHE), outside
# the checkout like Go's caches, so fresh clones reuse them. To rebuild
# everything:
# rm -r $(IMAGES_DIR) $(IMAGES_ROOTFS_CACHE).

IMAGES_DIR          := $(BIN)/images
IMAGES_ROOTFS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nexios-images/rootfs
NEXIOS_IMAGES_PIN    = src:$(call source-hash,$(TOOLS_DIR)/images,.) $(go-version)

# coredns's and pause's tags follow the binaries: mk/upstream.mk sets
# COREDNS_VERSION and PAUSE_VERSION (without them, nexios-images' defaults,
# v1.15.0 and 3.10.2, apply).
IMAGES_FLAGS = -bin-dir '$(BIN)' -out '$(IMAGES_DIR)' -repo '$(ROOT)' -rootfs-cache '$(IMAGES_ROOTFS_CACHE)' \
	$(if $(COREDNS_VERSION),-coredns-version '$(COREDNS_VERSION)') \
	$(if $(PAUSE_VERSION),-pause-version '$(PAUSE_VERSION)')

define build-nexios-images
cd '$(TOOLS_DIR)/images'; \
$(GO) build -o '$(BIN)/nexios-images.tmp' ./cmd/nexios-images; \
mv -f '$(BIN)/nexios-images.tmp' '$(BIN)/nexios-images'
endef

.PHONY: images nexios-images images-test

nexios-images: go-check
	$(call stamped-build,nexios-images,$(NEXIOS_IMAGES_PIN),$(BIN)/nexios-images,build-nexios-images)

images: nexios-images image-binaries ## Build the images the manifests use into bin/images/ for a real node (only those whose inputs changed).
	@start=$$(date +%s%N); \
	'$(BIN)/nexios-images' build $(IMAGES_FLAGS) -modcache "$$($(GO) env GOMODCACHE)"; \
	echo "images: done in $$(( ($$(date +%s%N) - start) / 1000000 ))ms"

images-test: go-check ## Tests of bin/nexios-images: every image built from stand-in inputs (no binaries, network or root needed).
	cd '$(TOOLS_DIR)/images' && $(GO) test -count=1 ./...

# `make unit` (and so `make test`) runs them too.
unit: images-test

# The built PostgreSQL image run with runc as a pod runs it (read-only root
# filesystem, UID 999, its writable mounts), in a bundle of a temporary folder:
# initdb, password login over TCP, the client tools, restart, both stop
# signals, its refusals. Needs root (skipped otherwise); about 35 s.
images-run-test: go-check images runc ## Run the built PostgreSQL image with runc under its contract (root; skipped otherwise).
	cd '$(TOOLS_DIR)/images' && NEXIOS_POSTGRES_IMAGE='$(IMAGES_DIR)/nexios-postgres.tar' RUNC='$(BIN)/runc' \
		$(GO) test -count=1 -run '^TestPostgresImageRuns$$' -v ./imagebuild/

e2e: images-run-test
