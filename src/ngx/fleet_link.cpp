// The workers' link to the fleet's stream: in each zone, the holder of the
// zone's reader lease keeps two connections, one that blocks in XREAD from
// the zone's position and applies what it reads, one that publishes the
// outbox with XADD (and the whole revocation list, when the stream or the
// outbox lost some). The gate never waits for it: it reads the zone only.
#include "ngx/fleet.hpp"

#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "core/fleet/horizon.hpp"

namespace oauth_ngx {

namespace {

using oauth::fleet::BatchCounts;
using oauth::fleet::Rejection;
using oauth::fleet::StreamEntry;
using oauth::fleet::StreamId;
using oauth::fleet::StreamInfo;

constexpr ngx_msec_t kBlock = 1000;           // XREAD BLOCK
constexpr ngx_msec_t kCommandTimeout = 2000;  // beyond the block
constexpr ngx_msec_t kHolderTick = 10;        // how soon the outbox is published
constexpr ngx_msec_t kLeaseTick = 250;        // how soon a lease left behind is taken
constexpr time_t kRejectionLogInterval = 10;
constexpr size_t kReadCount = 100;
constexpr uint32_t kRepublishSlots = 1024;  // a signature each: some ms per turn

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
    FleetShared &state() { return fleetOf(shm_); }

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
        bool held = holdZoneLease(state().reader);
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
        uint64_t refused = oauth::fleet::refused_since_republish(
            dropped, state().dropped_published.load(std::memory_order_relaxed));
        if (refused != 0) {
            ngx_log_error(NGX_LOG_WARN, tick_.log, 0,
                          "oauth_fleet_redis: %uL revocations did not fit in the outbox of zone "
                          "\"%V\"; its revocation list is published again (an opaque token "
                          "of another node among them is not)",
                          refused, &shm_->shm.name);
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
        releaseZoneLease(state().reader);
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
        logRejected(tick_.log, rejected_, stream_, last_rejection_, last_rejected_);
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
        BatchCounts counts;
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
    MainConf *mcf = fleetMainConfOf(cycle);
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

}  // namespace oauth_ngx
