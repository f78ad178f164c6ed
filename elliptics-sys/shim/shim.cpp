// C shim over the Elliptics C++ client; see shim.h for the contract.
#include "shim.h"

#include <elliptics/session.hpp>

#include <blackhole/attribute.hpp>
#include <blackhole/builder.hpp>
#include <blackhole/config/json.hpp>
#include <blackhole/record.hpp>
#include <blackhole/registry.hpp>
#include <blackhole/root.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <vector>

using namespace ioremap::elliptics;

struct ell_node {
	// The logger facade inside `n` refers to `base`, so `base` is declared first
	// (destroyed last) and lives on the heap at a stable address.
	std::unique_ptr<logger_base> base;
	std::unique_ptr<node> n;
};

struct ell_session {
	session s;
	explicit ell_session(const node &n) : s(n) {}
};

namespace {

void set_error(ell_error *err, int code, const std::string &message)
{
	if (!err)
		return;
	err->code = code < 0 ? code : -code;
	if (err->code == 0)
		err->code = -EIO;
	snprintf(err->message, sizeof(err->message), "%s", message.c_str());
}

// Runs `fn`, turning every exception into an error code.
template <typename F>
int guarded(ell_error *err, F &&fn)
{
	try {
		return fn();
	} catch (const error &e) {
		set_error(err, e.error_code(), e.what());
	} catch (const std::bad_alloc &) {
		set_error(err, -ENOMEM, "out of memory");
	} catch (const std::exception &e) {
		set_error(err, -EIO, e.what());
	} catch (...) {
		set_error(err, -EIO, "unknown C++ exception");
	}
	return err ? err->code : -EIO;
}

std::string json_escape(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == '"' || c == '\\') {
			out += '\\';
			out += c;
		} else if ((unsigned char)c < 0x20) {
			char buf[8];
			snprintf(buf, sizeof(buf), "\\u%04x", c);
			out += buf;
		} else {
			out += c;
		}
	}
	return out;
}

std::unique_ptr<logger_base> make_logger(const char *file, int level)
{
	std::unique_ptr<logger_base> base;
	if (file && *file) {
		std::string cfg = std::string("{\"root\": [{\"type\": \"blocking\", \"formatter\": {\"type\": \"string\", "
			"\"pattern\": \"{timestamp} {severity}: {message}, attrs: [{...}]\"}, "
			"\"sinks\": [{\"type\": \"file\", \"path\": \"") + json_escape(file) + "\", \"flush\": 1}]}]}";
		std::istringstream in(cfg);
		base.reset(new logger_base(
			blackhole::registry::configured()->builder<blackhole::config::json_t>(in).build("root")));
		base->filter([level](const blackhole::record_t &r) { return r.severity() >= level; });
	} else {
		base.reset(new logger_base());
		base->filter([](const blackhole::record_t &) { return false; });
	}
	return base;
}

// "host:port:family", the form `address` parses and Backrunner prints.
std::string addr_string(const dnet_addr *a)
{
	return std::string(dnet_addr_string(a)) + ":" + std::to_string(a->family);
}

key make_key(const char *k, size_t len)
{
	return key(std::string(k, len));
}

void fill_common(ell_entry &e, const callback_result_entry &r, std::string &addr, std::string &msg)
{
	memset(&e, 0, sizeof(e));
	e.key_index = -1;
	e.status = r.status();
	auto info = r.error();
	msg = info.message();
	e.message = msg.c_str();
	const dnet_cmd *cmd = r.command();
	if (cmd) {
		e.group = cmd->id.group_id;
		e.backend = cmd->backend_id;
		memcpy(e.id, cmd->id.id, ELL_ID_SIZE);
	}
	if (r.address())
		addr = addr_string(r.address());
	e.address = addr.c_str();
}

// Error of a whole operation, when no reply carried one.
int finish(const error_info &info, ell_error *err)
{
	if (info) {
		set_error(err, info.code(), info.message());
		return err ? err->code : info.code();
	}
	return 0;
}

void report_lookup(const lookup_result_entry &r, ell_entry_cb cb, void *priv)
{
	ell_entry e;
	std::string addr, msg, path;
	fill_common(e, r, addr, msg);
	if (e.status == 0 && r.is_valid() && r.file_info()) {
		const dnet_file_info *fi = r.file_info();
		e.has_info = 1;
		path = r.file_path() ? r.file_path() : "";
		e.path = path.c_str();
		e.offset = fi->offset;
		e.size = fi->size;
		e.mtime_sec = fi->mtime.tsec;
		e.mtime_nsec = fi->mtime.tnsec;
		memcpy(e.csum, fi->checksum, ELL_ID_SIZE);
	}
	cb(priv, &e);
}

// Reads try the groups in order and stop at the first answer. The groups
// are passed explicitly: the overload without them reorders them (node
// flags mix_states/randomize_states, ioflag mix_states), and a reader must
// stay on the replica it looked up. Failures are delivered too
// (filters::all), so a group answering -EILSEQ (its checksum failed and the
// next group served) is seen and counted.
async_read_result start_read(ell_session *s, const char *k, size_t key_len, uint64_t offset, uint64_t size)
{
	session rs = s->s.clone();
	rs.set_filter(filters::all);
	return rs.read_data(make_key(k, key_len), rs.get_groups(), offset, size);
}

void report_read(const read_result_entry &r, ell_entry_cb cb, void *priv)
{
	ell_entry e;
	std::string addr, msg;
	fill_common(e, r, addr, msg);
	data_pointer file;
	if (e.status == 0 && r.is_valid()) {
		const dnet_io_attr *io = r.io_attribute();
		file = r.file();
		e.data = (const uint8_t *)file.data();
		e.data_len = file.size();
		e.total_size = io ? io->total_size : 0;
		if (io) {
			e.mtime_sec = io->timestamp.tsec;
			e.mtime_nsec = io->timestamp.tnsec;
		}
	}
	cb(priv, &e);
}

// Hands a started command's replies to `report` and then its outcome to
// `done`, on the client's threads: nothing may escape them.
template <typename T, typename R>
void connect_started(async_result<T> &res, R report, ell_done_cb done, void *priv)
{
	res.connect(
		[report](const T &r) {
			try {
				report(r);
			} catch (...) {
			}
		},
		[done, priv](const error_info &info) {
			int code = 0;
			std::string msg;
			try {
				if (info) {
					code = info.code() < 0 ? info.code() : -EIO;
					msg = info.message();
				}
			} catch (...) {
				code = -ENOMEM;
			}
			done(priv, code, msg.c_str());
		});
}

} // namespace

extern "C" {

ell_node *ell_node_new(const ell_node_config *cfg, ell_error *err)
{
	ell_node *out = nullptr;
	guarded(err, [&]() {
		std::unique_ptr<ell_node> holder(new ell_node);
		holder->base = make_logger(cfg->log_file, cfg->log_level);
		logger log(*holder->base, blackhole::attributes_t());
		dnet_config c;
		memset(&c, 0, sizeof(c));
		c.wait_timeout = cfg->wait_timeout > 0 ? cfg->wait_timeout : 5;
		c.check_timeout = cfg->check_timeout > 0 ? cfg->check_timeout : 20;
		c.flags = (int)cfg->flags;
		c.stall_count = cfg->stall_count;
		c.io_thread_num = cfg->io_thread_num;
		c.nonblocking_io_thread_num = cfg->nonblocking_io_thread_num;
		c.net_thread_num = cfg->net_thread_num;
		holder->n.reset(new node(std::move(log), c));
		out = holder.release();
		return 0;
	});
	return out;
}

void ell_node_free(ell_node *node)
{
	try {
		delete node;
	} catch (...) {
	}
}

int ell_node_add_remotes(ell_node *node, const char *const *remotes, size_t len, ell_error *err)
{
	return guarded(err, [&]() {
		std::vector<address> addrs;
		for (size_t i = 0; i < len; ++i)
			addrs.emplace_back(std::string(remotes[i]));
		node->n->add_remote(addrs);
		return 0;
	});
}

ell_session *ell_session_new(ell_node *node, const ell_session_config *cfg, ell_error *err)
{
	ell_session *out = nullptr;
	guarded(err, [&]() {
		std::unique_ptr<ell_session> s(new ell_session(*node->n));
		s->s.set_exceptions_policy(session::no_exceptions);
		s->s.set_filter(filters::all_with_ack);
		if (cfg->ns && cfg->ns_len)
			s->s.set_namespace(cfg->ns, (int)cfg->ns_len);
		s->s.set_groups(std::vector<int>(cfg->groups, cfg->groups + cfg->groups_len));
		s->s.set_ioflags(cfg->ioflags);
		s->s.set_cflags(cfg->cflags);
		s->s.set_trace_id(cfg->trace_id);
		if (cfg->timeout > 0)
			s->s.set_timeout(cfg->timeout);
		if (cfg->has_timestamp) {
			dnet_time ts;
			ts.tsec = cfg->timestamp_sec;
			ts.tnsec = cfg->timestamp_nsec;
			s->s.set_timestamp(ts);
		}
		out = s.release();
		return 0;
	});
	return out;
}

void ell_session_free(ell_session *session)
{
	try {
		delete session;
	} catch (...) {
	}
}

int ell_write(ell_session *s, int kind, const char *k, size_t key_len, const void *data, size_t len,
		uint64_t remote_offset, uint64_t size_arg, ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		key id = make_key(k, key_len);
		// argument_data does not copy; the data stays alive until wait() returns.
		argument_data file(data_pointer::from_raw(const_cast<void *>(data), len));
		async_write_result res = [&]() {
			switch (kind) {
			case ELL_WRITE_PREPARE:
				return s->s.write_prepare(id, file, remote_offset, size_arg);
			case ELL_WRITE_PLAIN:
				return s->s.write_plain(id, file, remote_offset);
			case ELL_WRITE_COMMIT:
				return s->s.write_commit(id, file, remote_offset, size_arg);
			default:
				return s->s.write_data(id, file, remote_offset);
			}
		}();
		res.wait();
		for (const auto &r : res.get()) {
			if (r.is_ack() && r.status() == 0)
				continue;
			report_lookup(r, cb, priv);
		}
		return finish(res.error(), err);
	});
}

int ell_write_cas(ell_session *s, const char *k, size_t key_len, const void *data, size_t len,
		const uint8_t *old_csum, ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		key id = make_key(k, key_len);
		argument_data file(data_pointer::from_raw(const_cast<void *>(data), len));
		dnet_id csum;
		memset(&csum, 0, sizeof(csum));
		memcpy(csum.id, old_csum, ELL_ID_SIZE);
		async_write_result res = s->s.write_cas(id, file, csum, 0);
		res.wait();
		for (const auto &r : res.get()) {
			if (r.is_ack() && r.status() == 0)
				continue;
			report_lookup(r, cb, priv);
		}
		return finish(res.error(), err);
	});
}

int ell_read(ell_session *s, const char *k, size_t key_len, uint64_t offset, uint64_t size,
		ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_read_result res = start_read(s, k, key_len, offset, size);
		res.wait();
		for (const auto &r : res.get())
			report_read(r, cb, priv);
		return finish(res.error(), err);
	});
}

int ell_read_start(ell_session *s, const char *k, size_t key_len, uint64_t offset, uint64_t size,
		ell_entry_cb cb, ell_done_cb done, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_read_result res = start_read(s, k, key_len, offset, size);
		connect_started(res, [cb, priv](const read_result_entry &r) { report_read(r, cb, priv); }, done, priv);
		return 0;
	});
}

int ell_lookup(ell_session *s, const char *k, size_t key_len, ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_lookup_result res = s->s.parallel_lookup(make_key(k, key_len));
		res.wait();
		for (const auto &r : res.get()) {
			if (r.is_ack() && r.status() == 0)
				continue;
			report_lookup(r, cb, priv);
		}
		return finish(res.error(), err);
	});
}

int ell_lookup_start(ell_session *s, const char *k, size_t key_len, ell_entry_cb cb, ell_done_cb done,
		void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_lookup_result res = s->s.parallel_lookup(make_key(k, key_len));
		auto report = [cb, priv](const lookup_result_entry &r) {
			if (!(r.is_ack() && r.status() == 0))
				report_lookup(r, cb, priv);
		};
		connect_started(res, report, done, priv);
		return 0;
	});
}

int ell_remove(ell_session *s, const char *k, size_t key_len, ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_remove_result res = s->s.remove(make_key(k, key_len));
		res.wait();
		for (const auto &r : res.get()) {
			ell_entry e;
			std::string addr, msg;
			fill_common(e, r, addr, msg);
			cb(priv, &e);
		}
		return finish(res.error(), err);
	});
}

int ell_bulk_remove(ell_session *s, const char *const *keys, const size_t *key_lens, size_t len,
		ell_entry_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		std::vector<key> ks;
		std::vector<dnet_raw_id> ids;
		for (size_t i = 0; i < len; ++i) {
			ks.push_back(make_key(keys[i], key_lens[i]));
			ks.back().transform(s->s);
			ids.push_back(ks.back().raw_id());
		}
		async_remove_result res = s->s.bulk_remove(ks);
		res.wait();
		for (const auto &r : res.get()) {
			ell_entry e;
			std::string addr, msg;
			fill_common(e, r, addr, msg);
			for (size_t i = 0; i < ids.size(); ++i) {
				if (memcmp(ids[i].id, e.id, ELL_ID_SIZE) == 0) {
					e.key_index = (long)i;
					break;
				}
			}
			cb(priv, &e);
		}
		return finish(res.error(), err);
	});
}

int ell_monitor_stat(ell_session *s, uint64_t categories, ell_stat_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		async_monitor_stat_result res = s->s.monitor_stat(categories);
		res.wait();
		for (const auto &r : res.get()) {
			if (r.is_ack() || r.status() != 0 || !r.is_valid())
				continue;
			std::string addr = r.address() ? addr_string(r.address()) : "";
			std::string json = r.statistics();
			cb(priv, addr.c_str(), json.data(), json.size());
		}
		return finish(res.error(), err);
	});
}

int ell_backend_control(ell_session *s, const char *addr_str, uint32_t backend, int op, uint32_t delay_ms,
		ell_backend_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		address addr{std::string(addr_str)};
		async_backend_control_result res = [&]() {
			switch (op) {
			case ELL_BACKEND_READ_ONLY:
				return s->s.make_readonly(addr, backend);
			case ELL_BACKEND_WRITABLE:
				return s->s.make_writable(addr, backend);
			case ELL_BACKEND_DELAY:
				return s->s.set_delay(addr, backend, delay_ms);
			case ELL_BACKEND_DEFRAG:
				return s->s.start_defrag(addr, backend);
			case ELL_BACKEND_STOP_DEFRAG:
				return s->s.stop_defrag(addr, backend);
			default:
				return s->s.request_backends_status(addr);
			}
		}();
		res.wait();
		for (const auto &r : res.get()) {
			if (r.is_ack() || r.status() != 0 || !r.is_valid())
				continue;
			std::string a = r.address() ? addr_string(r.address()) : addr_str;
			const dnet_backend_status_list *list = r.list();
			for (uint32_t i = 0; list && i < list->backends_count; ++i) {
				const dnet_backend_status &b = list->backends[i];
				ell_backend_status st;
				st.address = a.c_str();
				st.backend = b.backend_id;
				st.state = b.state;
				st.defrag_state = b.defrag_state;
				st.last_start_err = b.last_start_err;
				st.read_only = b.read_only;
				st.delay_ms = b.delay;
				cb(priv, &st);
			}
		}
		return finish(res.error(), err);
	});
}

int ell_routes(ell_session *s, ell_route_cb cb, void *priv, ell_error *err)
{
	return guarded(err, [&]() {
		for (const auto &r : s->s.get_routes()) {
			ell_route out;
			std::string a = addr_string(&r.addr);
			out.address = a.c_str();
			out.group = r.group_id;
			out.backend = r.backend_id;
			memcpy(out.id, r.id.id, ELL_ID_SIZE);
			cb(priv, &out);
		}
		return 0;
	});
}

int ell_transform(ell_session *s, const char *k, size_t key_len, uint8_t *id_out, ell_error *err)
{
	return guarded(err, [&]() {
		key id = make_key(k, key_len);
		id.transform(s->s);
		memcpy(id_out, id.raw_id().id, ELL_ID_SIZE);
		return 0;
	});
}

} // extern "C"
