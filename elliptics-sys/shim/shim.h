/*
 * A small C interface over the Elliptics C++ client (ioremap::elliptics
 * node and session), for Rust's bindgen.
 *
 * Handles are opaque and owned by the caller (free them with the matching
 * *_free). Results are handed to a callback one entry at a time; pointers in
 * an entry are valid only while the callback runs. No C++ exception leaves
 * these functions: they return 0 or a negative errno and fill `ell_error`.
 */
#ifndef ELLIPTICS_SYS_SHIM_H
#define ELLIPTICS_SYS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Size of an Elliptics id and checksum (sha512). */
#define ELL_ID_SIZE 64

typedef struct ell_node ell_node;
typedef struct ell_session ell_session;

/* An error: negative errno and a message. */
typedef struct ell_error {
	int code;
	char message[512];
} ell_error;

/* Node parameters; zero means "the library's default". */
typedef struct ell_node_config {
	int io_thread_num;
	int nonblocking_io_thread_num;
	int net_thread_num;
	long wait_timeout;
	long check_timeout;
	uint64_t flags;
	long stall_count;
	/* Client log file ("" or NULL: no log) and level (0 debug .. 4 error). */
	const char *log_file;
	int log_level;
} ell_node_config;

/* Per-session parameters. */
typedef struct ell_session_config {
	const char *ns;
	size_t ns_len;
	const int *groups;
	size_t groups_len;
	uint32_t ioflags;
	uint64_t cflags;
	uint64_t trace_id;
	/* Seconds; 0 = the node's wait timeout. */
	long timeout;
	/* With has_timestamp, writes store this modification time instead of
	 * the current one (a recovery copy keeps its source's). */
	int has_timestamp;
	uint64_t timestamp_sec;
	uint64_t timestamp_nsec;
} ell_session_config;

/* One reply of a write, read, lookup or remove. */
typedef struct ell_entry {
	/* Reply status: 0 or a negative errno, with its message. */
	int status;
	const char *message;
	int group;
	uint32_t backend;
	/* Address of the replying node, "host:port:family". */
	const char *address;
	/* Object id (transformed key). */
	uint8_t id[ELL_ID_SIZE];
	/* For bulk remove: index of the key the reply is for, else -1. */
	long key_index;
	/* Set when the reply carries file info (write, lookup). */
	int has_info;
	const char *path;
	uint64_t offset;
	uint64_t size;
	uint64_t mtime_sec;
	uint64_t mtime_nsec;
	uint8_t csum[ELL_ID_SIZE];
	/* Read replies: the data and the object's total size. */
	const uint8_t *data;
	size_t data_len;
	uint64_t total_size;
} ell_entry;

typedef void (*ell_entry_cb)(void *priv, const ell_entry *entry);

/* End of a started command: 0 or a negative errno, with its message. */
typedef void (*ell_done_cb)(void *priv, int code, const char *message);

/* One backend's status, from backend status or control replies. */
typedef struct ell_backend_status {
	const char *address;
	uint32_t backend;
	int32_t state;
	uint32_t defrag_state;
	int32_t last_start_err;
	int read_only;
	uint32_t delay_ms;
} ell_backend_status;

typedef void (*ell_backend_cb)(void *priv, const ell_backend_status *status);

/* One route: the node and backend serving ids from `id` in `group`. */
typedef struct ell_route {
	const char *address;
	int group;
	uint32_t backend;
	uint8_t id[ELL_ID_SIZE];
} ell_route;

typedef void (*ell_route_cb)(void *priv, const ell_route *route);

/* One node's monitor statistics, as the JSON text the server sends. */
typedef void (*ell_stat_cb)(void *priv, const char *address, const char *json, size_t len);

/* Write kinds for ell_write. */
enum ell_write_kind {
	ELL_WRITE_DATA = 0,    /* whole object in one command */
	ELL_WRITE_PREPARE = 1, /* reserve `size_arg` bytes, write the chunk, keep hidden */
	ELL_WRITE_PLAIN = 2,   /* write a chunk into the reserved space */
	ELL_WRITE_COMMIT = 3,  /* write the last chunk and publish `size_arg` bytes */
};

/* Backend control operations for ell_backend_control. */
enum ell_backend_op {
	ELL_BACKEND_STATUS = 0,
	ELL_BACKEND_READ_ONLY = 1,
	ELL_BACKEND_WRITABLE = 2,
	ELL_BACKEND_DELAY = 3,
	ELL_BACKEND_DEFRAG = 4,
	ELL_BACKEND_STOP_DEFRAG = 5,
};

ell_node *ell_node_new(const ell_node_config *cfg, ell_error *err);
void ell_node_free(ell_node *node);
/* Adds storage nodes "host:port:family"; succeeds if any was reached. */
int ell_node_add_remotes(ell_node *node, const char *const *remotes, size_t len, ell_error *err);

ell_session *ell_session_new(ell_node *node, const ell_session_config *cfg, ell_error *err);
void ell_session_free(ell_session *session);

int ell_write(ell_session *s, int kind, const char *key, size_t key_len, const void *data, size_t len,
		uint64_t remote_offset, uint64_t size_arg, ell_entry_cb cb, void *priv, ell_error *err);
/* Compare-and-swap: writes the whole object in every group of the session
 * whose stored record's checksum (sha512 of its bytes, as the server computes
 * it) equals `old_csum` (ELL_ID_SIZE bytes); a group holding another version
 * answers -EBADFD and keeps it. The server takes the write where the key is
 * absent, whatever `old_csum` is. */
int ell_write_cas(ell_session *s, const char *key, size_t key_len, const void *data, size_t len,
		const uint8_t *old_csum, ell_entry_cb cb, void *priv, ell_error *err);
/* Reads `size` bytes (0 = to the end) at `offset`, trying the session's groups in order. */
int ell_read(ell_session *s, const char *key, size_t key_len, uint64_t offset, uint64_t size,
		ell_entry_cb cb, void *priv, ell_error *err);
/* ell_read without waiting: returns once the command is sent. `cb` gets
 * each reply and then `done` the command's own outcome, once, both on a
 * client thread and never at the same time. Returns 0 when started (`done`
 * will be called, also when the node goes away first); otherwise an error,
 * and neither callback is called. */
int ell_read_start(ell_session *s, const char *key, size_t key_len, uint64_t offset, uint64_t size,
		ell_entry_cb cb, ell_done_cb done, void *priv, ell_error *err);
/* Looks the key up in every group of the session at once. */
int ell_lookup(ell_session *s, const char *key, size_t key_len, ell_entry_cb cb, void *priv, ell_error *err);
/* ell_lookup without waiting, with callbacks as ell_read_start's. */
int ell_lookup_start(ell_session *s, const char *key, size_t key_len, ell_entry_cb cb, ell_done_cb done,
		void *priv, ell_error *err);
int ell_remove(ell_session *s, const char *key, size_t key_len, ell_entry_cb cb, void *priv, ell_error *err);
int ell_bulk_remove(ell_session *s, const char *const *keys, const size_t *key_lens, size_t len,
		ell_entry_cb cb, void *priv, ell_error *err);

/* Monitor statistics (DNET_MONITOR_* categories) of every node the client knows. */
int ell_monitor_stat(ell_session *s, uint64_t categories, ell_stat_cb cb, void *priv, ell_error *err);
/* Backend status or control on one node. */
int ell_backend_control(ell_session *s, const char *address, uint32_t backend, int op, uint32_t delay_ms,
		ell_backend_cb cb, void *priv, ell_error *err);
/* Every route of the client's route table. */
int ell_routes(ell_session *s, ell_route_cb cb, void *priv, ell_error *err);
/* The id a key gets in the session's namespace. */
int ell_transform(ell_session *s, const char *key, size_t key_len, uint8_t *id_out, ell_error *err);

#ifdef __cplusplus
}
#endif

#endif
