// Wrapper module: the sandbox ("pause") program of the cluster suite's real node, built by
// test/cluster/toolchain/build.sh into bin/pause and made an image by test/cluster/images.ts.
module gpu-dev/cluster-toolchain/pause

go 1.26.0
