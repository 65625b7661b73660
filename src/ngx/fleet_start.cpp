// The master's read of the fleet's stream at start, for a zone new to it:
// nginx does not start until it ends, so it is bounded in time and memory
// (core/fleet/start_read.hpp), whatever Redis or anything on its address
// sends or withholds.
#include "ngx/fleet.hpp"

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

#include "core/fleet/start_read.hpp"

namespace oauth_ngx {

namespace {

using oauth::fleet::BatchCounts;
using oauth::fleet::StreamEntry;
using oauth::fleet::StreamInfo;

constexpr size_t kStartReadCount = 1000;

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
                                       BatchCounts &counts) {
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
    MainConf *mcf = fleetMainConfOf(zone.cycle);
    if (mcf == nullptr || mcf->fleet == nullptr || ngx_test_config ||
        !ngx_is_init_cycle(ngx_cycle)) {
        return;
    }
    FleetConf &conf = *mcf->fleet;
    // Restored revocations go out once the link is up: Redis takes them
    // twice at worst.
    size_t restored = 0;
    revocationsOf(shm).visit_live(
        uint32_t(ngx_time()),
        [](void *count, const oauth::Digest &, uint32_t) { ++*static_cast<size_t *>(count); },
        &restored);
    if (oauth::fleet::republish_restored(restored)) {
        fleetOf(shm).republish.store(1, std::memory_order_release);
    }
    if (!conf.start_deadline) {
        conf.start_deadline.emplace(steadyMs());  // the first zone's read starts it for all
    }
    try {
        std::string stream = streamOf(conf, zone.name);
        StartExchange exchange(*conf.start_deadline);
        std::optional<std::string> problem;
        BatchCounts counts;
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
            fleetOf(shm).loss_logged.store(1, std::memory_order_release);
            ngx_log_error(NGX_LOG_ERR, shm->shm.log, 0,
                          "oauth_fleet_redis: the link to Redis at %V for stream \"%s\" is lost: "
                          "%s",
                          &conf.address, stream.c_str(), problem->c_str());
        } else {
            ngx_log_error(
                NGX_LOG_NOTICE, shm->shm.log, 0,
                "oauth_fleet_redis: stream \"%s\": %uz entries applied at start, up to %s",
                stream.c_str(), counts.applied, positionOf(shm).text().c_str());
        }
        if (counts.rejected != 0) {
            logRejected(shm->shm.log, counts.rejected, stream, counts.last, counts.last_rejected);
        }
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                      "oauth_fleet_redis: out of memory reading zone \"%V\"'s stream at start",
                      &zone.name);
    }
}

}  // namespace oauth_ngx
