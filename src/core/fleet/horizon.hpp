// How far back the fleet's stream keeps entries: as long as any token of the
// zone may live, so that a node that joins late, or comes back, still reads
// the revocation of every token that can still pass.
#pragma once

#include <cstdint>

namespace oauth::fleet {

// The longest life, in seconds, a token this node issues or checks may have:
// the longest ttl= of its token endpoints (1 h, the default ttl, when it has
// none: its tokens come from other nodes) or the longest token_ttl of the
// clients its endpoints serve (0: no client sets one), whichever is longer.
uint32_t longest_token_life(uint32_t longest_endpoint_ttl, uint32_t longest_client_ttl) noexcept;

// XADD's MINID, in ms since the epoch: what is older than the longest token
// life and the leeway a revoked JWT is remembered for may go.
uint64_t trim_before_ms(uint64_t now_ms, uint32_t longest_token_life) noexcept;

}  // namespace oauth::fleet
