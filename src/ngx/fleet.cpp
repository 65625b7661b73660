// The fleet (oauth_fleet_redis): revocations shared by every nginx naming
// the same Redis, through one Redis Stream per zone, "PREFIX:ZONE".
//
// - Every worker queues the revocations it makes in the zone's outbox
//   (shared memory: they outlive a lost link and the worker).
// - In each zone, one worker, the holder of the zone's reader lease, keeps
//   two connections: one blocks in XREAD from the zone's position and
//   applies what it reads; the other publishes the outbox with XADD,
//   trimming what is older than the longest token lifetime and the leeway.
// - When a link comes up, the stream is compared with the position: a
//   stream that lost what this node read (Redis restarted empty) gets the
//   zone's live revocations published again.
// - A zone new to the master reads the stream before the workers start, so
//   that a node refuses earlier revocations from its first request.
// The gate never waits for any of this: it reads the zone only.
#include "ngx/redis_link.hpp"
#include "ngx/file_io.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "core/fleet/entry.hpp"
#include "core/fleet/horizon.hpp"
#include "core/fleet/start_read.hpp"
#include "core/jose/gate.hpp"

namespace oauth_ngx {

namespace {

using oauth::fleet::Continuity;
using oauth::fleet::FieldView;
using oauth::fleet::Rejection;
using oauth::fleet::StreamId;
using oauth::fleet::StreamInfo;

constexpr ngx_msec_t kBlock = 1000;           // XREAD BLOCK
constexpr ngx_msec_t kCommandTimeout = 2000;  // beyond the block
constexpr ngx_msec_t kHolderTick = 10;        // how soon the outbox is published
constexpr ngx_msec_t kLeaseTick = 250;        // how soon a lease left behind is taken
constexpr uint64_t kSyncedWithin = 3000;      // $oauth_fleet_synced
constexpr time_t kRejectionLogInterval = 10;
constexpr size_t kReadCount = 100;
constexpr size_t kStartReadCount = 1000;
constexpr uint32_t kRepublishSlots = 1024;  // a signature each: some ms per turn

const oauth::LeasePolicy kLeasePolicy{3, isAlive};

MainConf *mainConfOf(ngx_cycle_t *cycle) {
    return static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oauth_module));
}

ZoneState &stateOf(ngx_shm_zone_t *shm) {
    return *static_cast<ZoneRegions *>(shm->data)->state;
}

std::string streamOf(const FleetConf &conf, const ngx_str_t &zone) {
    return conf.prefix + ":" + std::string(view(zone));
}

uint64_t wallMs() {
    ngx_time_t *tp = ngx_timeofday();
    return uint64_t(tp->sec) * 1000 + tp->msec;
}

StreamId positionOf(ngx_shm_zone_t *shm) {
    FleetPosition &p = stateOf(shm).fleet_position;
    return {p.ms.load(std::memory_order_acquire), p.seq.load(std::memory_order_acquire)};
}

void setPosition(ngx_shm_zone_t *shm, StreamId id) {
    FleetPosition &p = stateOf(shm).fleet_position;
    p.seq.store(id.seq, std::memory_order_release);
    p.ms.store(id.ms, std::memory_order_release);
}

// ---- replies -----------------------------------------------------------------

bool isString(const redisReply *r) {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::string_view text(const redisReply *r) {
    return {r->str, r->len};
}

// One entry of a stream, its fields viewed in the reply.
struct StreamEntry {
    StreamId id;
    std::vector<FieldView> fields;
    bool well_formed = true;
};

// XREAD's reply: nil (nothing new), or [[stream, [[id, [field, value, ...]], ...]]].
// False when it is not that shape: what answered is not a Redis we understand.
bool parseRead(const redisReply *reply, std::vector<StreamEntry> &entries) {
    if (reply->type == REDIS_REPLY_NIL) {
        return true;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 ||
        reply->element[0]->type != REDIS_REPLY_ARRAY || reply->element[0]->elements != 2 ||
        reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        return false;
    }
    const redisReply *list = reply->element[0]->element[1];
    for (size_t i = 0; i < list->elements; ++i) {
        const redisReply *e = list->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !isString(e->element[0])) {
            return false;
        }
        std::optional<StreamId> id = StreamId::parse(text(e->element[0]));
        if (!id) {
            return false;
        }
        StreamEntry entry;
        entry.id = *id;
        const redisReply *fields = e->element[1];
        if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0) {
            entry.well_formed = false;
        } else {
            for (size_t f = 0; f + 1 < fields->elements && entry.well_formed; f += 2) {
                entry.well_formed =
                    isString(fields->element[f]) && isString(fields->element[f + 1]);
                if (entry.well_formed) {
                    entry.fields.emplace_back(text(fields->element[f]),
                                              text(fields->element[f + 1]));
                }
            }
        }
        entries.push_back(std::move(entry));
    }
    return true;
}

// XINFO STREAM's reply, a flat list of names and values; an error "no such
// key" for a stream that is not there. False for anything else.
bool parseInfo(const redisReply *reply, StreamInfo &info) {
    if (reply->type == REDIS_REPLY_ERROR) {
        info.exists = false;
        return std::strstr(reply->str, "no such key") != nullptr;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
        return false;
    }
    info.exists = true;
    bool generated = false;
    for (size_t i = 0; i + 1 < reply->elements; i += 2) {
        const redisReply *name = reply->element[i];
        const redisReply *value = reply->element[i + 1];
        if (!isString(name)) {
            return false;
        }
        if (text(name) == "last-generated-id") {
            std::optional<StreamId> id =
                isString(value) ? StreamId::parse(text(value)) : std::nullopt;
            if (!id) {
                return false;
            }
            info.last_generated_id = *id;
            generated = true;
        } else if (text(name) == "first-entry" && value->type == REDIS_REPLY_ARRAY) {
            std::optional<StreamId> id = value->elements == 2 && isString(value->element[0])
                                             ? StreamId::parse(text(value->element[0]))
                                             : std::nullopt;
            if (!id) {
                return false;
            }
            info.first_entry = *id;
        }
    }
    return generated;
}

// ---- applying ------------------------------------------------------------------

struct Applied {
    size_t entries = 0;
    size_t rejected = 0;
    Rejection last = Rejection::none;
    StreamId last_rejected;
};

// Verifies and applies each entry, and moves the zone's position past it.
void applyEntries(ngx_shm_zone_t *shm, const FleetConf &conf, const std::string &stream,
                  const std::vector<StreamEntry> &entries, Applied &counts) {
    oauth::TokenStore store = storeOf(shm);
    oauth::RevocationList revocations = revocationsOf(shm);
    uint32_t now = uint32_t(ngx_time());
    // What is applied is noted in the zone's change log: the state file's
    // writer keeps it, with the position, within a second.
    for (const StreamEntry &entry : entries) {
        oauth::fleet::Revocation revocation;
        Rejection why = entry.well_formed ? oauth::fleet::verify_entry(entry.fields, stream,
                                                                       conf.accepted, revocation)
                                          : Rejection::malformed;
        if (why != Rejection::none) {
            ++counts.rejected;
            counts.last = why;
            counts.last_rejected = entry.id;
        } else {
            oauth::fleet::Applied applied =
                oauth::fleet::apply_entry(revocation, store, revocations, now);
            if (applied == oauth::fleet::Applied::full) {
                ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                              "oauth_fleet_redis: stream \"%s\": the revocation list of zone "
                              "\"%V\" is full; a revocation of the fleet by client \"%*s\" "
                              "is not listed (a JWT stays valid here, an opaque token is revoked "
                              "but a state file could bring it back)",
                              stream.c_str(), &shm->shm.name, revocation.client.size(),
                              revocation.client.data());
            }
            ++counts.entries;
        }
        setPosition(shm, entry.id);
    }
}

// What a continuity check found, said once; true when the stream lost what
// this node had read.
bool noteContinuity(ngx_shm_zone_t *shm, const std::string &stream, const StreamInfo &info) {
    StreamId position = positionOf(shm);
    switch (oauth::fleet::check_continuity(position, info)) {
        case Continuity::continues:
            return false;
        case Continuity::trimmed:
            // Also what a node sees when Redis lost its data and another node
            // refilled the stream first: only this node may hold some of its
            // revocations, so they go out again (a duplicate changes nothing).
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "oauth_fleet_redis: stream \"%s\" was trimmed past this node's "
                          "position; what Redis still holds is read again, and this node's "
                          "live revocations are published again",
                          stream.c_str());
            stateOf(shm).fleet.republish.store(1, std::memory_order_release);
            return false;
        case Continuity::lost:
            break;
    }
    ngx_log_error(
        NGX_LOG_WARN, ngx_cycle->log, 0,
        "oauth_fleet_redis: stream \"%s\" lost what this node read (%s); its live "
        "revocations are published again",
        stream.c_str(),
        info.exists ? "its last id is older than this node's position" : "the stream is missing");
    setPosition(shm, StreamId{});
    stateOf(shm).fleet.republish.store(1, std::memory_order_release);
    return true;
}

// ---- the directive ------------------------------------------------------------

bool startsWith(const ngx_str_t &s, std::string_view prefix) {
    return view(s).substr(0, prefix.size()) == prefix;
}

char *parseAddress(ngx_conf_t *cf, const ngx_str_t &address, FleetConf &fleet) {
    if (startsWith(address, "unix:")) {
        fleet.unix_path.assign(view(address).substr(5));
        if (fleet.unix_path.empty()) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in oauth_fleet_redis: unix:PATH is "
                               "expected",
                               &address);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        return NGX_CONF_OK;
    }
    ngx_url_t url{};
    url.url = address;
    if (ngx_parse_url(cf->pool, &url) != NGX_OK || url.no_port || url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid address \"%V\" in oauth_fleet_redis: %s",
                           &address,
                           url.err != nullptr ? url.err
                           : url.no_port      ? "host:port or unix:PATH is expected"
                                              : "host not found");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    u_char text[NGX_SOCKADDR_STRLEN];
    size_t len =
        ngx_sock_ntop(url.addrs[0].sockaddr, url.addrs[0].socklen, text, NGX_SOCKADDR_STRLEN, 0);
    fleet.host.assign(reinterpret_cast<char *>(text), len);
    fleet.port = int(url.port);
    return NGX_CONF_OK;
}

// A password file holds less than 1k, its newline included.
constexpr size_t kPasswordFileMax = 1023;

char *readPassword(ngx_conf_t *cf, ngx_str_t path, FleetConf &fleet) {
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    std::string bytes;
    FileRead read = readWholeFile(path, bytes, kPasswordFileMax);
    if (read == FileRead::cannot_open) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "oauth_fleet_redis: cannot read password_file \"%V\"", &path);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    bool failed = read != FileRead::ok;
    std::string_view password(bytes);
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
        password.remove_suffix(1);
    }
    if (failed || password.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_fleet_redis: password_file \"%V\" %s",
                           &path, failed ? "cannot be read whole (1k at most)" : "is empty");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    fleet.password.assign(password);
    return NGX_CONF_OK;
}

void deleteFleetConf(void *fleet) {
    delete static_cast<FleetConf *>(fleet);
}

}  // namespace

// "oauth_fleet_redis ADDRESS [password_file=FILE] [db=N] [key=PREFIX]"
char *setFleetRedis(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *mcf = static_cast<MainConf *>(conf);
    if (mcf->fleet != nullptr) {
        return const_cast<char *>("is duplicate");
    }
    auto *fleet = new (std::nothrow) FleetConf();
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (fleet == nullptr || cleanup == nullptr) {
        delete fleet;
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    cleanup->handler = deleteFleetConf;
    cleanup->data = fleet;
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    try {
        fleet->address = value[1];
        fleet->place = confPlace(cf);
        if (parseAddress(cf, value[1], *fleet) != NGX_CONF_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        for (ngx_uint_t i = 2; i < cf->args->nelts; ++i) {
            const ngx_str_t &arg = value[i];
            if (startsWith(arg, "password_file=") && arg.len > 14) {
                if (readPassword(cf, {arg.len - 14, arg.data + 14}, *fleet) != NGX_CONF_OK) {
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
            } else if (startsWith(arg, "db=")) {
                fleet->db = ngx_atoi(arg.data + 3, arg.len - 3);
                if (fleet->db == NGX_ERROR || fleet->db > 65535) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid db \"%V\" in oauth_fleet_redis: a database "
                                       "number from 0 is expected",
                                       &arg);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
            } else if (startsWith(arg, "key=") && arg.len > 4) {
                fleet->prefix.assign(view(arg).substr(4));
                for (char c : fleet->prefix) {
                    if (c <= ' ' || c == 0x7f) {
                        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                           "invalid key \"%V\" in oauth_fleet_redis: no space "
                                           "or control character",
                                           &arg);
                        return static_cast<char *>(NGX_CONF_ERROR);
                    }
                }
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\" in oauth_fleet_redis: "
                                   "password_file=FILE, db=N or key=PREFIX is expected",
                                   &arg);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    mcf->fleet = fleet;
    return NGX_CONF_OK;
}

// Every endpoint's clients count, not only a token endpoint's: a node that
// only revokes or introspects checks tokens other nodes issued them.
void noteFleetEndpoint(ngx_conf_t *cf, const EndpointConf &endpoint,
                       const oauth::Registry &clients) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return;
    }
    FleetConf &fleet = *mcf->fleet;
    for (const oauth::Client &client : clients.clients()) {
        fleet.longest_client_ttl = std::max(fleet.longest_client_ttl, client.token_ttl);
    }
    if (endpoint.kind != Endpoint::token) {
        return;
    }
    fleet.longest_endpoint_ttl = std::max(fleet.longest_endpoint_ttl, uint32_t(endpoint.ttl));
    if (!endpoint.jwt) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "oauth_token_endpoint issues opaque tokens on a fleet node "
                      "(oauth_fleet_redis): they are valid on this node only; format=jwt makes "
                      "tokens every node accepts, in %V:%ui",
                      &endpoint.place.file, endpoint.place.line);
    }
}

// Entries are signed with the first oauth_signing_key of http{} (else of the
// first server that has one) and checked against every oauth_signing_key of
// this nginx. A trusted issuer's keys never count: another issuer has no say
// over this fleet's revocations.
ngx_int_t checkFleet(ngx_conf_t *cf) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return NGX_OK;
    }
    FleetConf &fleet = *mcf->fleet;
    try {
        auto add = [&fleet](const SigningKeys *keys) {
            for (const oauth::jose::Key &key :
                 keys != nullptr ? keys->keys : std::vector<oauth::jose::Key>()) {
                if (oauth::jose::find_key(fleet.accepted, std::string_view(key.kid)) == nullptr) {
                    fleet.accepted.push_back(key);
                }
            }
        };
        add(static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module))
                ->signing_keys);
        auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
        auto **servers = static_cast<ngx_http_core_srv_conf_t **>(cmcf->servers.elts);
        for (ngx_uint_t i = 0; i < cmcf->servers.nelts; ++i) {
            add(static_cast<ServerConf *>(
                    servers[i]->ctx->srv_conf[ngx_http_oauth_module.ctx_index])
                    ->signing_keys);
        }
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    if (fleet.accepted.empty()) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oauth_fleet_redis needs an oauth_signing_key: the fleet's entries are "
                      "signed with it, in %V:%ui",
                      &fleet.place.file, fleet.place.line);
        return NGX_ERROR;
    }
    fleet.longest_token_life =
        oauth::fleet::longest_token_life(fleet.longest_endpoint_ttl, fleet.longest_client_ttl);
    // What each zone's init reads: a zone made now gets an outbox.
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        zones[i].fleet = true;
        static_cast<Zone *>(zones[i].shm->data)->fleet = true;
    }
    return NGX_OK;
}

namespace {

// ---- at start, in the master -----------------------------------------------------

struct ReplyFree {
    void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

struct ContextFree {
    void operator()(redisContext *c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;

uint64_t steadyMs() {
    return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

timeval timevalOf(uint64_t ms) {
    return {time_t(ms / 1000), suseconds_t(ms % 1000 * 1000)};
}

// hiredis' own objects, which the bounded reader below builds with.
redisReplyObjectFunctions *hiredisObjects = nullptr;
redisReplyObjectFunctions boundedObjects;

// An array is counted against the reply's bound before hiredis allocates its
// table: "*2000000000" is refused, not allocated. nullptr makes hiredis stop
// the reader.
void *createBoundedArray(const redisReadTask *task, int elements) {
    auto *bound = static_cast<oauth::fleet::ReplyBound *>(task->privdata);
    if (!bound->admit_array(size_t(elements))) {
        return nullptr;
    }
    return hiredisObjects->createArray(task, elements);
}

// A blocking hiredis context driven by hand: hiredis' own calls give each
// read() its own timeout, so that a peer sending a byte every 0.5 s would
// hold nginx's start for ever. Here every wait is a poll() for what is left
// of the one deadline, and every reply is bounded.
class StartExchange {
  public:
    explicit StartExchange(const oauth::fleet::StartDeadline &deadline) : deadline_(deadline) {}

    // False, with problem() saying why, when no link came up by the deadline.
    bool connect(const FleetConf &conf) {
        uint64_t wait = deadline_.connect_wait(steadyMs());
        if (wait == 0) {
            problem_ = late();
            return false;
        }
        timeval timeout = timevalOf(wait);
        c_.reset(conf.unix_path.empty()
                     ? redisConnectWithTimeout(conf.host.c_str(), conf.port, timeout)
                     : redisConnectUnixWithTimeout(conf.unix_path.c_str(), timeout));
        if (c_ == nullptr || c_->err != 0) {
            problem_ = c_ == nullptr ? "out of memory" : c_->errstr;
            return false;
        }
        int flags = fcntl(c_->fd, F_GETFL);
        if (flags == -1 || fcntl(c_->fd, F_SETFL, flags | O_NONBLOCK) == -1) {
            problem_ = std::strerror(errno);
            return false;
        }
        if (hiredisObjects == nullptr) {
            hiredisObjects = c_->reader->fn;
            boundedObjects = *hiredisObjects;
            boundedObjects.createArray = createBoundedArray;
        }
        c_->reader->fn = &boundedObjects;
        c_->reader->privdata = &bound_;
        return true;
    }

    // The command's whole reply, or nullptr with problem() saying why.
    Reply call(const std::vector<std::string> &args) {
        bound_ = oauth::fleet::ReplyBound();
        return sendCommand(args) ? receiveReply() : nullptr;
    }

    const std::string &problem() const { return problem_; }

  private:
    static std::string late() {
        return "not done within the " +
               std::to_string(oauth::fleet::StartDeadline::kBudgetMs / 1000) +
               " s the read at start may take; the workers read the rest";
    }

    // Until the socket is ready for `events`; false once the deadline passed.
    bool wait(short events) {
        for (;;) {
            uint64_t left = deadline_.left(steadyMs());
            if (left == 0) {
                problem_ = late();
                return false;
            }
            pollfd pfd{c_->fd, events, 0};
            int ready = poll(&pfd, 1, int(left));
            if (ready > 0) {
                return true;
            }
            if (ready < 0 && errno != EINTR) {
                problem_ = std::strerror(errno);
                return false;
            }
        }
    }

    bool sendCommand(const std::vector<std::string> &args) {
        std::vector<const char *> argv;
        std::vector<size_t> lengths;
        for (const std::string &arg : args) {
            argv.push_back(arg.data());
            lengths.push_back(arg.size());
        }
        char *command = nullptr;
        int length =
            redisFormatCommandArgv(&command, int(args.size()), argv.data(), lengths.data());
        if (length < 0) {
            problem_ = "out of memory";
            return false;
        }
        std::unique_ptr<char, void (*)(char *)> owned(command, redisFreeCommand);
        for (size_t sent = 0; sent < size_t(length);) {
            if (!wait(POLLOUT)) {
                return false;
            }
            ssize_t n = ::send(c_->fd, command + sent, size_t(length) - sent, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                problem_ = std::strerror(errno);
                return false;
            }
            sent += n > 0 ? size_t(n) : 0;
        }
        return true;
    }

    Reply receiveReply() {
        for (;;) {
            void *reply = nullptr;
            if (redisReaderGetReply(c_->reader, &reply) != REDIS_OK) {
                problem_ = bound_.exceeded()
                               ? tooLarge()
                               : std::string("a reply that is not Redis': ") + c_->reader->errstr;
                return nullptr;
            }
            if (reply != nullptr) {
                return Reply(static_cast<redisReply *>(reply));
            }
            if (!wait(POLLIN)) {
                return nullptr;
            }
            char buffer[16 * 1024];
            ssize_t n = recv(c_->fd, buffer, sizeof buffer, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                problem_ = n == 0 ? "the connection was closed" : std::strerror(errno);
                return nullptr;
            }
            if (n > 0 && !bound_.admit_bytes(size_t(n))) {
                problem_ = tooLarge();
                return nullptr;
            }
            if (n > 0 && redisReaderFeed(c_->reader, buffer, size_t(n)) != REDIS_OK) {
                problem_ = "out of memory";
                return nullptr;
            }
        }
    }

    static std::string tooLarge() {
        return "a reply larger than " +
               std::to_string(oauth::fleet::ReplyBound::kMaxBytes / (1024 * 1024)) + " MiB or " +
               std::to_string(oauth::fleet::ReplyBound::kMaxElements) + " elements (not Redis?)";
    }

    const oauth::fleet::StartDeadline &deadline_;
    Context c_;
    oauth::fleet::ReplyBound bound_;
    std::string problem_;
};

std::string refusal(const std::string &command, const StartExchange &exchange,
                    const redisReply *reply) {
    return command + " failed: " +
           (reply == nullptr                   ? exchange.problem()
            : reply->type == REDIS_REPLY_ERROR ? std::string(reply->str)
                                               : std::string("an unexpected reply"));
}

// The whole read, or why it stopped.
std::optional<std::string> readAtStart(StartExchange &exchange, ngx_shm_zone_t *shm,
                                       const FleetConf &conf, const std::string &stream,
                                       Applied &counts) {
    std::vector<std::vector<std::string>> handshake;
    if (!conf.password.empty()) {
        handshake.push_back({"AUTH", conf.password});
    }
    if (conf.db >= 0) {
        handshake.push_back({"SELECT", std::to_string(conf.db)});
    }
    for (const std::vector<std::string> &command : handshake) {
        Reply reply = exchange.call(command);
        if (!reply || reply->type == REDIS_REPLY_ERROR) {
            return refusal(command[0], exchange, reply.get());
        }
    }
    Reply info_reply = exchange.call({"XINFO", "STREAM", stream});
    StreamInfo info;
    if (!info_reply || !parseInfo(info_reply.get(), info)) {
        return refusal("XINFO", exchange, info_reply.get());
    }
    noteContinuity(shm, stream, info);
    for (;;) {
        Reply reply = exchange.call({"XREAD", "COUNT", std::to_string(kStartReadCount), "STREAMS",
                                     stream, positionOf(shm).text()});
        std::vector<StreamEntry> entries;
        if (!reply || reply->type == REDIS_REPLY_ERROR || !parseRead(reply.get(), entries)) {
            return refusal("XREAD", exchange, reply.get());
        }
        applyEntries(shm, conf, stream, entries, counts);
        if (entries.size() < kStartReadCount) {
            return std::nullopt;
        }
    }
}

}  // namespace

void readFleetAtStart(ngx_shm_zone_t *shm, const Zone &zone) {
    MainConf *mcf = mainConfOf(zone.cycle);
    if (mcf == nullptr || mcf->fleet == nullptr || ngx_test_config ||
        !ngx_is_init_cycle(ngx_cycle)) {
        return;
    }
    FleetConf &conf = *mcf->fleet;
    // Revocations a state file brought back may never have left the outbox
    // of the node's previous life (Redis away when it stopped): they go out
    // again once the link is up. Redis takes them twice at worst.
    size_t restored = 0;
    revocationsOf(shm).visit_live(
        uint32_t(ngx_time()),
        [](void *count, const oauth::Digest &, uint32_t) { ++*static_cast<size_t *>(count); },
        &restored);
    if (restored != 0) {
        stateOf(shm).fleet.republish.store(1, std::memory_order_release);
    }
    if (!conf.start_deadline) {
        conf.start_deadline.emplace(steadyMs());  // the first zone's read starts it for all
    }
    try {
        std::string stream = streamOf(conf, zone.name);
        StartExchange exchange(*conf.start_deadline);
        std::optional<std::string> problem;
        Applied counts;
        if (!exchange.connect(conf)) {
            problem = exchange.problem();
        } else {
            problem = readAtStart(exchange, shm, conf, stream, counts);
        }
        if (problem) {
            ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                          "oauth_fleet_redis: stream \"%s\" could not be read at start: %s",
                          stream.c_str(), problem->c_str());
            // The loss, logged once for the node: the workers log its end.
            stateOf(shm).fleet.loss_logged.store(1, std::memory_order_release);
            ngx_log_error(NGX_LOG_ERR, shm->shm.log, 0,
                          "oauth_fleet_redis: the link to Redis at %V for stream \"%s\" is lost: "
                          "%s",
                          &conf.address, stream.c_str(), problem->c_str());
        } else {
            ngx_log_error(
                NGX_LOG_NOTICE, shm->shm.log, 0,
                "oauth_fleet_redis: stream \"%s\": %uz entries applied at start, up to %s",
                stream.c_str(), counts.entries, positionOf(shm).text().c_str());
        }
        if (counts.rejected != 0) {
            ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                          "oauth_fleet_redis: %uz entries of stream \"%s\" rejected, the last "
                          "(id %s): %s",
                          counts.rejected, stream.c_str(), counts.last_rejected.text().c_str(),
                          std::string(oauth::fleet::rejection_reason(counts.last)).c_str());
        }
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                      "oauth_fleet_redis: out of memory reading zone \"%V\"'s stream at start",
                      &zone.name);
    }
}

namespace {

// ---- in the workers: one link per zone, in the lease holder ----------------------

class ZoneLink final : public RedisLink::Owner {
  public:
    ZoneLink(ngx_shm_zone_t *shm, const FleetConf &conf, ngx_log_t *log)
        : shm_(shm),
          conf_(conf),
          stream_(streamOf(conf, shm->shm.name)),
          reader_(conf, *this, log),
          writer_(conf, *this, log) {
        tick_.handler = onTick;
        tick_.data = this;
        tick_.log = log;
        tick_.cancelable = 1;
    }

    void start() { ngx_add_timer(&tick_, 1); }  // a node links as soon as it starts

    // The links close and the lease goes, so that a successor need not wait.
    void stop() {
        if (tick_.timer_set) {
            ngx_del_timer(&tick_);
        }
        release();
    }

    void linkUp(RedisLink &link) override {
        try {
            if (&link == &reader_) {
                probe();
            } else if (checked_) {
                noteUp();
            }
        } catch (const std::bad_alloc &) {
            link.fail("out of memory");
        }
    }

    void linkDown(RedisLink &link, const std::string &reason) override {
        if (&link == &reader_) {
            checked_ = false;
        } else {
            publishing_ = false;
            if (republishing_) {
                republishing_ = false;
                state().republish.store(1, std::memory_order_release);
            }
        }
        noteDown(reason);
    }

  private:
    FleetShared &state() { return stateOf(shm_).fleet; }

    static void onTick(ngx_event_t *ev) {
        auto *self = static_cast<ZoneLink *>(ev->data);
        if (ngx_exiting || ngx_quit || ngx_terminate) {
            self->release();
            return;
        }
        try {
            self->tick();
        } catch (const std::bad_alloc &) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0, "oauth_fleet_redis: out of memory");
        }
        ngx_add_timer(ev, self->holds_ ? kHolderTick : kLeaseTick);
    }

    void tick() {
        bool held = oauth::hold_lease(state().reader, uint32_t(ngx_pid), uint32_t(ngx_time()),
                                      kLeasePolicy);
        if (held != holds_) {
            ngx_log_error(NGX_LOG_INFO, tick_.log, 0,
                          held ? "oauth_fleet_redis: this worker reads stream \"%s\""
                               : "oauth_fleet_redis: this worker no longer reads stream \"%s\"",
                          stream_.c_str());
            holds_ = held;
            if (held) {
                reader_.open();
                writer_.open();
            } else {
                closeLinks();
            }
        }
        if (!holds_) {
            return;
        }
        logRejections(false);
        if (!writer_.ready() || !checked_) {
            return;  // nothing goes out before the stream's continuity is known
        }
        std::optional<oauth::fleet::Outbox> outbox = outboxOf(shm_);
        uint64_t dropped = outbox ? outbox->dropped() : 0;
        uint64_t published = state().dropped_published.load(std::memory_order_relaxed);
        if (dropped != published) {
            ngx_log_error(NGX_LOG_WARN, tick_.log, 0,
                          "oauth_fleet_redis: %uL revocations did not fit in the outbox of zone "
                          "\"%V\"; its revocation list is published again (an opaque token "
                          "of another node among them is not)",
                          dropped - published, &shm_->shm.name);
            state().dropped_published.store(dropped, std::memory_order_relaxed);
            state().republish.store(1, std::memory_order_release);
        }
        if (!publishing_) {
            publish();
        }
        if (!republishing_ && state().republish.exchange(0) == 1) {
            republishing_ = true;
            republish_slot_ = 0;
            republished_ = 0;
        }
        if (republishing_ && republish_waiting_ == 0) {
            republishSlice();
        }
    }

    void closeLinks() {
        reader_.close();
        writer_.close();
        checked_ = false;
        publishing_ = false;
        if (republishing_) {
            republishing_ = false;
            state().republish.store(1, std::memory_order_release);
        }
    }

    void release() {
        if (holds_) {
            logRejections(true);
            closeLinks();
            holds_ = false;
        }
        oauth::release_lease(state().reader, uint32_t(ngx_pid));
    }

    // ---- the link's state, logged once per change for the whole node ----

    void noteUp() {
        state().connected.store(1, std::memory_order_release);
        if (state().loss_logged.exchange(0) == 1) {
            ngx_log_error(NGX_LOG_NOTICE, tick_.log, 0,
                          "oauth_fleet_redis: the link to Redis at %V for stream \"%s\" is up "
                          "again",
                          &conf_.address, stream_.c_str());
        } else {
            ngx_log_error(NGX_LOG_INFO, tick_.log, 0,
                          "oauth_fleet_redis: linked to Redis at %V for stream \"%s\"",
                          &conf_.address, stream_.c_str());
        }
    }

    void noteDown(const std::string &reason) {
        state().connected.store(0, std::memory_order_release);
        if (state().loss_logged.exchange(1) == 0) {
            ngx_log_error(NGX_LOG_ERR, tick_.log, 0,
                          "oauth_fleet_redis: the link to Redis at %V for stream \"%s\" is lost: "
                          "%s",
                          &conf_.address, stream_.c_str(), reason.c_str());
        }
    }

    void heard() { state().heard_ms.store(wallMs(), std::memory_order_release); }

    void logRejections(bool now) {
        if (rejected_ == 0 ||
            (!now && ngx_time() - rejections_logged_at_ < kRejectionLogInterval)) {
            return;
        }
        ngx_log_error(NGX_LOG_WARN, tick_.log, 0,
                      "oauth_fleet_redis: %uz entries of stream \"%s\" rejected, the last (id %s): "
                      "%s",
                      rejected_, stream_.c_str(), last_rejected_.text().c_str(),
                      std::string(oauth::fleet::rejection_reason(last_rejection_)).c_str());
        rejected_ = 0;
        rejections_logged_at_ = ngx_time();
    }

    // ---- reading ----

    void probe() { reader_.command({"XINFO", "STREAM", stream_}, kCommandTimeout, onProbe, this); }

    static void onProbe(void *data, redisReply *reply) {
        auto *self = static_cast<ZoneLink *>(data);
        if (reply == nullptr) {
            return;
        }
        StreamInfo info;
        if (!parseInfo(reply, info)) {
            self->reader_.fail(reply->type == REDIS_REPLY_ERROR
                                   ? std::string("XINFO refused: ") + reply->str
                                   : "an unexpected reply to XINFO");
            return;
        }
        self->heard();
        noteContinuity(self->shm_, self->stream_, info);
        self->checked_ = true;
        // Up once Redis has answered like one: a socket that connects may be anything.
        if (self->writer_.ready()) {
            self->noteUp();
        }
        self->read();
    }

    void read() {
        reader_.command({"XREAD", "COUNT", std::to_string(kReadCount), "BLOCK",
                         std::to_string(kBlock), "STREAMS", stream_, positionOf(shm_).text()},
                        kBlock + kCommandTimeout, onRead, this);
    }

    static void onRead(void *data, redisReply *reply) {
        auto *self = static_cast<ZoneLink *>(data);
        if (reply == nullptr) {
            return;
        }
        std::vector<StreamEntry> entries;
        bool parsed = false;
        try {
            parsed = reply->type != REDIS_REPLY_ERROR && parseRead(reply, entries);
        } catch (const std::bad_alloc &) {
        }
        if (!parsed) {
            self->reader_.fail(reply->type == REDIS_REPLY_ERROR
                                   ? std::string("XREAD refused: ") + reply->str
                                   : "an unexpected reply to XREAD");
            return;
        }
        self->heard();
        Applied counts;
        applyEntries(self->shm_, self->conf_, self->stream_, entries, counts);
        if (counts.rejected != 0) {
            self->rejected_ += counts.rejected;
            self->last_rejection_ = counts.last;
            self->last_rejected_ = counts.last_rejected;
            self->logRejections(false);
        }
        self->read();
    }

    // ---- publishing ----

    // XADD with the fields, trimming what no node needs any more: entries
    // older than the longest token lifetime and the leeway a revoked JWT is
    // remembered for.
    bool xadd(const oauth::fleet::Revocation &revocation, RedisLink::ReplyHandler handler) {
        std::vector<oauth::fleet::Field> fields;
        if (!oauth::fleet::sign_entry(revocation, stream_, conf_.accepted.front(), fields)) {
            ngx_log_error(NGX_LOG_ERR, tick_.log, 0,
                          "oauth_fleet_redis: a revocation could not be signed for stream \"%s\"",
                          stream_.c_str());
            return false;
        }
        uint64_t trim_before = oauth::fleet::trim_before_ms(wallMs(), conf_.longest_token_life);
        std::vector<std::string> args = {"XADD", stream_, "MINID", std::to_string(trim_before),
                                         "*"};
        for (oauth::fleet::Field &field : fields) {
            args.push_back(std::move(field.first));
            args.push_back(std::move(field.second));
        }
        return writer_.command(args, kCommandTimeout, handler, this);
    }

    void publish() {
        std::optional<oauth::fleet::Outbox> outbox = outboxOf(shm_);
        oauth::fleet::Revocation revocation;
        while (outbox && outbox->front(revocation, publishing_sequence_)) {
            if (xadd(revocation, onPublished)) {
                publishing_ = true;
                return;
            }
            if (!writer_.ready()) {
                return;
            }
            outbox->pop(publishing_sequence_);  // one that cannot be signed never will be
        }
    }

    static void onPublished(void *data, redisReply *reply) {
        auto *self = static_cast<ZoneLink *>(data);
        self->publishing_ = false;
        if (reply == nullptr) {
            return;
        }
        if (reply->type != REDIS_REPLY_STRING) {
            self->writer_.fail(reply->type == REDIS_REPLY_ERROR
                                   ? std::string("XADD refused: ") + reply->str
                                   : "an unexpected reply to XADD");
            return;
        }
        outboxOf(self->shm_)->pop(self->publishing_sequence_);
        self->publish();
    }

    // The revocation list, a slice of slots per turn: Redis lost it.
    static void collect(void *context, const oauth::Digest &digest, uint32_t expires_at) {
        auto *batch = static_cast<std::vector<oauth::fleet::Revocation> *>(context);
        batch->push_back(
            {oauth::fleet::Kind::jwt, digest, std::string(), expires_at, uint32_t(ngx_time())});
    }

    void republishSlice() {
        oauth::RevocationList revocations = revocationsOf(shm_);
        std::vector<oauth::fleet::Revocation> batch;
        republish_slot_ = revocations.visit_live(uint32_t(ngx_time()), republish_slot_,
                                                 kRepublishSlots, collect, &batch);
        for (const oauth::fleet::Revocation &revocation : batch) {
            if (!xadd(revocation, onRepublished)) {
                return;  // the writer is gone: its loss asks for this again
            }
            ++republish_waiting_;
        }
        republished_ += batch.size();
        if (republish_slot_ >= revocations.slot_count()) {
            republishing_ = false;
            ngx_log_error(NGX_LOG_NOTICE, tick_.log, 0,
                          "oauth_fleet_redis: stream \"%s\": %uz live revocations published again",
                          stream_.c_str(), republished_);
        }
    }

    static void onRepublished(void *data, redisReply *reply) {
        auto *self = static_cast<ZoneLink *>(data);
        if (self->republish_waiting_ > 0) {
            --self->republish_waiting_;
        }
        if (reply != nullptr && reply->type != REDIS_REPLY_STRING) {
            self->writer_.fail(reply->type == REDIS_REPLY_ERROR
                                   ? std::string("XADD refused: ") + reply->str
                                   : "an unexpected reply to XADD");
        }
    }

    ngx_shm_zone_t *shm_;
    const FleetConf &conf_;
    std::string stream_;
    RedisLink reader_;
    RedisLink writer_;
    ngx_event_t tick_{};
    bool holds_ = false;
    bool checked_ = false;  // the stream's continuity checked since the reader came up
    bool publishing_ = false;
    uint64_t publishing_sequence_ = 0;
    bool republishing_ = false;
    uint32_t republish_slot_ = 0;
    size_t republish_waiting_ = 0;
    size_t republished_ = 0;
    size_t rejected_ = 0;
    Rejection last_rejection_ = Rejection::none;
    StreamId last_rejected_;
    time_t rejections_logged_at_ = 0;
};

std::vector<std::unique_ptr<ZoneLink>> *links = nullptr;

void deleteLinks(void *data) {
    delete static_cast<std::vector<std::unique_ptr<ZoneLink>> *>(data);
    links = nullptr;
}

}  // namespace

ngx_int_t startFleet(ngx_cycle_t *cycle) {
    MainConf *mcf = mainConfOf(cycle);
    if (mcf == nullptr || mcf->fleet == nullptr) {
        return NGX_OK;
    }
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cleanup == nullptr) {
        return NGX_ERROR;
    }
    try {
        links = new std::vector<std::unique_ptr<ZoneLink>>();
        cleanup->handler = deleteLinks;
        cleanup->data = links;
        Zone *zones = static_cast<Zone *>(mcf->zones.elts);
        for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
            links->push_back(std::make_unique<ZoneLink>(zones[i].shm, *mcf->fleet, cycle->log));
            links->back()->start();
        }
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    return NGX_OK;
}

void stopFleet(ngx_cycle_t *) {
    if (links != nullptr) {
        for (std::unique_ptr<ZoneLink> &link : *links) {
            link->stop();
        }
    }
}

// ---- $oauth_fleet_synced and the gauges ---------------------------------------------

ngx_int_t fleetSyncedVariable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) {
    static u_char one[] = "1";
    static u_char zero[] = "0";
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    bool synced = mcf->fleet != nullptr && mcf->zones.nelts > 0;
    uint64_t now = wallMs();
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts && synced; ++i) {
        uint64_t heard = stateOf(zones[i].shm).fleet.heard_ms.load(std::memory_order_acquire);
        synced = heard != 0 && now < heard + kSyncedWithin;
    }
    v->data = synced ? one : zero;
    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

std::optional<oauth::metrics::FleetGauges> fleetGaugesOf(ngx_http_request_t *r,
                                                         ngx_shm_zone_t *zone) {
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return std::nullopt;
    }
    FleetShared &fleet = stateOf(zone).fleet;
    std::optional<oauth::fleet::Outbox> outbox = outboxOf(zone);
    return oauth::metrics::FleetGauges{fleet.connected.load(std::memory_order_acquire) == 1,
                                       outbox ? outbox->waiting() : 0,
                                       fleet.heard_ms.load(std::memory_order_acquire) / 1000};
}

}  // namespace oauth_ngx
