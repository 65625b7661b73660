// The fleet's glue that its seams share (fleet.cpp): the directive
// (fleet_directive.cpp), the master's read at start (fleet_start.cpp), the
// workers' link (fleet_link.cpp) and the variable and gauges
// (fleet_variable.cpp) see a zone's fleet state, Redis' replies and what
// the stream's entries do to a zone through these. The rules are
// core/fleet's.
#pragma once

#include "ngx/redis_link.hpp"

#include <string>
#include <vector>

#include "core/fleet/stream.hpp"

namespace oauth_ngx {

MainConf *fleetMainConfOf(ngx_cycle_t *cycle);
FleetShared &fleetOf(ngx_shm_zone_t *shm);
std::string streamOf(const FleetConf &conf, const ngx_str_t &zone);
uint64_t wallMs();
oauth::fleet::StreamId positionOf(ngx_shm_zone_t *shm);

// XREAD's reply: nil (nothing new), or [[stream, [[id, [field, value, ...]], ...]]].
// False when it is not that shape: what answered is not a Redis we understand.
bool parseRead(const redisReply *reply, std::vector<oauth::fleet::StreamEntry> &entries);
// XINFO STREAM's reply, a flat list of names and values; an error "no such
// key" for a stream that is not there. False for anything else.
bool parseInfo(const redisReply *reply, oauth::fleet::StreamInfo &info);

// Verifies and applies each entry, and moves the zone's position past it.
void applyEntries(ngx_shm_zone_t *shm, const FleetConf &conf, const std::string &stream,
                  const std::vector<oauth::fleet::StreamEntry> &entries,
                  oauth::fleet::BatchCounts &counts);
// Does what the continuity check of the zone's position found, and says it once.
void noteContinuity(ngx_shm_zone_t *shm, const std::string &stream,
                    const oauth::fleet::StreamInfo &info);
// The entries rejected since last said, and why the last one was.
void logRejected(ngx_log_t *log, size_t rejected, const std::string &stream,
                 oauth::fleet::Rejection last, oauth::fleet::StreamId last_rejected);

}  // namespace oauth_ngx
