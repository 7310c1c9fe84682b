module clusterboot.local/toolchain/images/capfix

go 1.26.0
