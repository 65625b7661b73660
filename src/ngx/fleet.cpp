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
//
// Each part is a file along nginx's seams (fleet.hpp names them); this one
// holds what the master's read and the workers' link share: Redis' replies
// read, entries applied to the zone, and the continuity check's action done.
#include "ngx/fleet.hpp"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace oauth_ngx {

namespace {

using oauth::fleet::BatchCounts;
using oauth::fleet::Continuity;
using oauth::fleet::StreamEntry;
using oauth::fleet::StreamId;
using oauth::fleet::StreamInfo;

ZoneState &stateOf(ngx_shm_zone_t *shm) {
    return *static_cast<ZoneRegions *>(shm->data)->state;
}

bool isString(const redisReply *r) {
    return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

std::string_view text(const redisReply *r) {
    return {r->str, r->len};
}

// Where a revocation the full list could not take is told: the log.
struct FullList {
    ngx_shm_zone_t *shm;
    const std::string &stream;
};

void logFullList(void *context, const oauth::fleet::Revocation &revocation) {
    auto *full = static_cast<FullList *>(context);
    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "oauth_fleet_redis: stream \"%s\": the revocation list of zone "
                  "\"%V\" is full; a revocation of the fleet by client \"%*s\" "
                  "is not listed (a JWT stays valid here, an opaque token is revoked "
                  "but a state file could bring it back)",
                  full->stream.c_str(), &full->shm->shm.name, revocation.client.size(),
                  revocation.client.data());
}

}  // namespace

MainConf *fleetMainConfOf(ngx_cycle_t *cycle) {
    return static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oauth_module));
}

FleetShared &fleetOf(ngx_shm_zone_t *shm) {
    return stateOf(shm).fleet;
}

std::string streamOf(const FleetConf &conf, const ngx_str_t &zone) {
    return oauth::fleet::stream_name(conf.prefix, view(zone));
}

uint64_t wallMs() {
    ngx_time_t *tp = ngx_timeofday();
    return uint64_t(tp->sec) * 1000 + tp->msec;
}

StreamId positionOf(ngx_shm_zone_t *shm) {
    return stateOf(shm).fleet_position.load();
}

// ---- replies -----------------------------------------------------------------

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

// What is applied is noted in the zone's change log: the state file's writer
// keeps it, with the position, within a second.
void applyEntries(ngx_shm_zone_t *shm, const FleetConf &conf, const std::string &stream,
                  const std::vector<StreamEntry> &entries, BatchCounts &counts) {
    oauth::TokenStore store = storeOf(shm);
    oauth::RevocationList revocations = revocationsOf(shm);
    FullList full{shm, stream};
    oauth::fleet::BatchTarget target{store, revocations, stateOf(shm).fleet_position, logFullList,
                                     &full};
    oauth::fleet::apply_batch(entries, stream, conf.accepted, uint32_t(ngx_time()), target, counts);
}

void noteContinuity(ngx_shm_zone_t *shm, const std::string &stream, const StreamInfo &info) {
    switch (oauth::fleet::check_continuity(positionOf(shm), info)) {
        case Continuity::read_on:
            return;
        case Continuity::republish:
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "oauth_fleet_redis: stream \"%s\" was trimmed past this node's "
                          "position; what Redis still holds is read again, and this node's "
                          "live revocations are published again",
                          stream.c_str());
            break;
        case Continuity::reset_and_republish:
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "oauth_fleet_redis: stream \"%s\" lost what this node read (%s); its "
                          "live revocations are published again",
                          stream.c_str(),
                          info.exists ? "its last id is older than this node's position"
                                      : "the stream is missing");
            stateOf(shm).fleet_position.store(StreamId{});  // read from the start
            break;
    }
    stateOf(shm).fleet.republish.store(1, std::memory_order_release);
}

void logRejected(ngx_log_t *log, size_t rejected, const std::string &stream,
                 oauth::fleet::Rejection last, StreamId last_rejected) {
    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "oauth_fleet_redis: %uz entries of stream \"%s\" rejected, the last (id %s): "
                  "%s",
                  rejected, stream.c_str(), last_rejected.text().c_str(),
                  std::string(oauth::fleet::rejection_reason(last)).c_str());
}

}  // namespace oauth_ngx
