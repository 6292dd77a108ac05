/*
 * vstor bridge protocol: the one contract between vstor.sys (StorPort virtual miniport, kernel)
 * and the vstor service (user mode). Shared verbatim by the driver, the service and the Linux
 * StorPort emulator, so it is plain C: fixed-width integers only (Windows LLP64 and Linux LP64
 * agree on them), natural alignment without packing pragmas, every size and offset asserted.
 *
 * Transport: VSTOR_BRIDGE_IOCTL on the adapter, METHOD_OUT_DIRECT, taken by the driver's own
 * IRP_MJ_DEVICE_CONTROL routine (chained in front of StorPort's). The input buffer (header and
 * operation, a few hundred bytes) is copied by the I/O manager; the output buffer is the service's
 * own memory, locked and mapped by the driver through its MDL: a TRANSACT's data-in is read from it
 * and the next request and its data-out are written into it. One copy per transfer, made by the
 * driver outside its adapter lock. Version 1 used IOCTL_MINIPORT_PROCESS_SERVICE_IRP
 * (METHOD_BUFFERED: the I/O manager copied every transfer a second time); the driver answers it
 * with STATUS_REVISION_MISMATCH.
 *
 * One round trip per command (the inverted call): the service sends VSTOR_OP_TRANSACT carrying the
 * completion of the request it just ran (optional) and an output buffer; the driver applies the
 * completion to its SRB, then either fills the buffer with the next request and completes the IRP
 * at once, or parks the IRP until HwStartIo has a request for it.
 *
 * Tags are opaque to the service: an index into the driver's slot table plus a generation number,
 * validated on return (a stale tag, e.g. a reply to a request aborted by a reset, is ignored; a tag
 * that names no slot is a protocol error). The driver never hands out kernel pointers.
 */
#ifndef VSTOR_BRIDGE_PROTOCOL_H
#define VSTOR_BRIDGE_PROTOCOL_H

#ifdef __cplusplus
#include <cstddef>
#include <cstdint>
#define VSTOR_BRIDGE_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#include <stddef.h>
#include <stdint.h>
#define VSTOR_BRIDGE_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define VSTOR_BRIDGE_MAGIC 0x52545356u /* "VSTR" little-endian */
#define VSTOR_BRIDGE_VERSION 2u

/* Device interface the driver registers on the adapter's PDO; the service finds the adapter by it
 * (SetupDiGetClassDevs(DIGCF_DEVICEINTERFACE)) instead of guessing a \\.\ScsiN: number.
 * {F5380434-4819-4069-B548-A84189B35B61} */
#define VSTOR_BRIDGE_INTERFACE_GUID_INIT \
    { 0xf5380434, 0x4819, 0x4069, { 0xb5, 0x48, 0xa8, 0x41, 0x89, 0xb3, 0x5b, 0x61 } }

/* CTL_CODE(FILE_DEVICE_CONTROLLER, 0x900, METHOD_OUT_DIRECT, FILE_READ_ACCESS | FILE_WRITE_ACCESS):
 * the channel (protocol 2). Every operation: input = the operation's structure, output = the
 * service's buffer (the MDL), which also carries a TRANSACT completion's data-in at
 * VSTOR_TRANSACT_IN_DATA_OFFSET. */
#define VSTOR_BRIDGE_IOCTL 0x0004E402u
#define VSTOR_BRIDGE_IOCTL_METHOD(code) ((code) & 3u) /* 0 buffered, 1 in-direct, 2 out-direct, 3 neither */
/* IOCTL_MINIPORT_PROCESS_SERVICE_IRP = CTL_CODE(IOCTL_SCSI_BASE, 0x040e, METHOD_BUFFERED,
 * FILE_READ_ACCESS | FILE_WRITE_ACCESS): StorPort passes it to HwProcessServiceRequest. Protocol 1's
 * channel, refused since. */
#define VSTOR_BRIDGE_IOCTL_STORPORT 0x0004D038u

/* Limits the driver announces to StorPort and the service must size its buffers for. */
#define VSTOR_BRIDGE_MAX_TRANSFER (1024u * 1024u) /* PORT_CONFIGURATION_INFORMATION.MaximumTransferLength */
#define VSTOR_BRIDGE_MAX_CDB 32u
#define VSTOR_BRIDGE_MAX_SENSE 252u
#define VSTOR_BRIDGE_MAX_TARGETS 8u
#define VSTOR_BRIDGE_MAX_LUNS 8u /* per target */

/* Operations (vstor_bridge_header.op). */
#define VSTOR_OP_CONNECT 1u    /* in: connect; out: connect_reply. Starts a new session. */
#define VSTOR_OP_TRANSACT 2u   /* in: [completion] [data-in]; out: request [data-out]. May park. */
#define VSTOR_OP_LUN 3u        /* in: lun (present/absent); raises BusChangeDetected. */
#define VSTOR_OP_DISCONNECT 4u /* orderly end: outstanding SRBs fail at once, parked IRPs return. */
#define VSTOR_OP_HOLD 5u       /* in: header. Parked until the session ends. Issued from a thread that
                                  lives as long as the service: when the process dies the I/O manager
                                  cancels it, and the driver fails the service's SRBs at once. */

/* vstor_bridge_header.flags for VSTOR_OP_TRANSACT */
#define VSTOR_FLAG_HAS_COMPLETION 0x1u /* a vstor_bridge_completion follows the header */
#define VSTOR_FLAG_NO_WAIT 0x2u        /* do not park: return VSTOR_REQ_NONE if nothing is queued */

typedef struct vstor_bridge_header {
    uint32_t magic;   /* VSTOR_BRIDGE_MAGIC */
    uint16_t version; /* VSTOR_BRIDGE_VERSION */
    uint16_t op;      /* VSTOR_OP_* */
    uint32_t session; /* from connect_reply; 0 in CONNECT */
    uint32_t flags;   /* VSTOR_FLAG_* */
} vstor_bridge_header;

typedef struct vstor_bridge_connect {
    vstor_bridge_header hdr;
    uint32_t buffer_size; /* bytes of every TRANSACT output buffer the service will post */
    uint32_t reserved;
} vstor_bridge_connect;

typedef struct vstor_bridge_connect_reply {
    vstor_bridge_header hdr;
    uint32_t session;          /* put in every later header */
    uint32_t max_transfer;     /* largest data-in/out of one request */
    uint32_t max_outstanding;  /* slots in the driver's table */
    uint32_t min_buffer_size;  /* TRANSACT buffers must be at least this big */
    uint32_t max_targets;
    uint32_t max_luns;
} vstor_bridge_connect_reply;

/* Request kinds (vstor_bridge_request.kind). */
#define VSTOR_REQ_NONE 0u      /* NO_WAIT and nothing queued */
#define VSTOR_REQ_SCSI 1u      /* run the CDB; answer with a completion carrying the tag */
#define VSTOR_REQ_BUS_RESET 2u /* HwResetBus ran: every earlier request was aborted; no answer */
#define VSTOR_REQ_LUN_RESET 3u /* LUN reset for path/target/lun: earlier requests aborted; no answer */
#define VSTOR_REQ_SHUTDOWN 4u  /* adapter stopping; no answer */

/* Data direction (vstor_bridge_request.direction). */
#define VSTOR_DIR_NONE 0u
#define VSTOR_DIR_IN 1u  /* data-in: device to host, the completion carries it */
#define VSTOR_DIR_OUT 2u /* data-out: host to device, follows the request */

/* Queue attribute (vstor_bridge_request.attribute): the SRB's QueueAction. */
#define VSTOR_ATTR_SIMPLE 0u
#define VSTOR_ATTR_HEAD_OF_QUEUE 1u
#define VSTOR_ATTR_ORDERED 2u

typedef struct vstor_bridge_request {
    uint64_t tag;            /* opaque; echo it in the completion */
    uint32_t kind;           /* VSTOR_REQ_* */
    uint8_t path_id;
    uint8_t target_id;
    uint8_t lun;
    uint8_t cdb_length;
    uint8_t direction;       /* VSTOR_DIR_* */
    uint8_t attribute;       /* VSTOR_ATTR_* */
    uint16_t reserved0;
    uint32_t data_length;    /* bytes: data-out that follows, or data-in room */
    uint32_t timeout_s;      /* the SRB's TimeOutValue */
    uint32_t reserved1;
    uint8_t cdb[VSTOR_BRIDGE_MAX_CDB];
} vstor_bridge_request;

/* Transport-level result (vstor_bridge_completion.result). */
#define VSTOR_RESULT_OK 0u        /* scsi_status/sense are the answer */
#define VSTOR_RESULT_NO_DEVICE 1u /* LUN gone */
#define VSTOR_RESULT_ABORTED 2u   /* aborted by task management */
#define VSTOR_RESULT_ERROR 3u     /* the service could not run it */

typedef struct vstor_bridge_completion {
    uint64_t tag;
    uint32_t result;          /* VSTOR_RESULT_* */
    uint32_t data_length;     /* bytes moved: data-in that follows, or data-out consumed */
    uint8_t scsi_status;
    uint8_t sense_length;     /* <= VSTOR_BRIDGE_MAX_SENSE */
    uint16_t reserved;
    uint8_t sense[VSTOR_BRIDGE_MAX_SENSE];
} vstor_bridge_completion;

typedef struct vstor_bridge_lun {
    vstor_bridge_header hdr;
    uint8_t path_id;
    uint8_t target_id;
    uint8_t lun;
    uint8_t present; /* 1 = add, 0 = remove */
    uint32_t reserved;
} vstor_bridge_lun;

/* Layout of the TRANSACT buffers:
 *   in (input buffer):    header | completion (if HAS_COMPLETION)
 *   in (output buffer):   data-in bytes at VSTOR_TRANSACT_IN_DATA_OFFSET (completion.data_length, reads)
 *   out (output buffer):  header | request | data-out bytes (request.data_length, writes)
 * The service may pass one buffer as both (the input then ends at the data-in). A TRANSACT that may
 * park needs an output buffer of VSTOR_TRANSACT_MIN_BUFFER; a NO_WAIT one is handed the next request
 * only if it fits the output buffer (a write's data-out included), else VSTOR_REQ_NONE.
 */
#define VSTOR_TRANSACT_IN_DATA_OFFSET (sizeof(vstor_bridge_header) + sizeof(vstor_bridge_completion))
#define VSTOR_TRANSACT_OUT_DATA_OFFSET (sizeof(vstor_bridge_header) + sizeof(vstor_bridge_request))
#define VSTOR_TRANSACT_MIN_BUFFER (VSTOR_TRANSACT_IN_DATA_OFFSET + VSTOR_BRIDGE_MAX_TRANSFER)

VSTOR_BRIDGE_STATIC_ASSERT(VSTOR_BRIDGE_IOCTL_METHOD(VSTOR_BRIDGE_IOCTL) == 2u, "the channel is METHOD_OUT_DIRECT");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_header) == 16, "header size");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_header, op) == 6, "header.op");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_header, session) == 8, "header.session");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_connect) == 24, "connect size");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_connect_reply) == 40, "connect_reply size");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_connect_reply, min_buffer_size) == 28, "reply.min_buffer_size");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_request) == 64, "request size");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_request, kind) == 8, "request.kind");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_request, path_id) == 12, "request.path_id");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_request, data_length) == 20, "request.data_length");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_request, cdb) == 32, "request.cdb");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_completion) == 272, "completion size");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_completion, data_length) == 12, "completion.data_length");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_completion, scsi_status) == 16, "completion.scsi_status");
VSTOR_BRIDGE_STATIC_ASSERT(offsetof(vstor_bridge_completion, sense) == 20, "completion.sense");
VSTOR_BRIDGE_STATIC_ASSERT(sizeof(vstor_bridge_lun) == 24, "lun size");
VSTOR_BRIDGE_STATIC_ASSERT(VSTOR_TRANSACT_IN_DATA_OFFSET == 288, "in data offset");
VSTOR_BRIDGE_STATIC_ASSERT(VSTOR_TRANSACT_OUT_DATA_OFFSET == 80, "out data offset");

#endif /* VSTOR_BRIDGE_PROTOCOL_H */
