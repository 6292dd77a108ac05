// The librados settings an RBD LUN applies around the cluster's configuration file.
#pragma once

#include <rados/librados.h>

namespace vstor::backends {

// After the configuration file and CEPH_ARGS are read: bounds for a cluster that does not answer
// (client_mount_timeout, rados_mon_op_timeout: 30 s) and a write cache that writes back from the
// start (rbd_cache_writethrough_until_flush=false), wherever the file left Ceph's built-in value;
// and the settings the LUN needs whatever the file says (rbd_skip_partial_discard=false).
// rados_conf_set outranks the file in Ceph, so defaults set before reading it could not be changed.
void apply_rbd_conf(rados_t cluster);

}  // namespace vstor::backends
