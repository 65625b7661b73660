// The state file's reader on any bytes, as a snapshot and as a journal: it
// accepts or gives a reason, never crashes, and what it accepts restores
// into a zone without breaking it; a journal's whole images are a prefix.
// A reader that accepts a file also accepts it with its checksum recomputed,
// so the fuzzer gets past the checksum: every structural check is reached.
#include <cstring>
#include <string>
#include <vector>

#include "core/tokens/token_store.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/state_file.hpp"
#include "fuzz.hpp"

namespace {

constexpr uint32_t kNow = 1000000;

void no_lock(void *) {}

// Read as a journal: its whole images end where its problem, if any, begins.
void check_journal(std::string_view bytes, oauth::TokenStore &store, oauth::RevocationList &list) {
    oauth::StateJournal journal = oauth::parse_journal(bytes, "tokens");
    FUZZ_CHECK(journal.whole_bytes <= bytes.size());
    FUZZ_CHECK(journal.problem.empty() == (journal.whole_bytes == bytes.size()));
    oauth::RestoreCounts counts;
    for (const oauth::StateFile &image : journal.images) {
        oauth::apply_state_records(image, store, list, kNow, true, 0, image.record_count(), counts);
    }
    FUZZ_CHECK(counts.tokens + counts.expired + counts.revoked + counts.present + counts.refused <=
               journal.record_count());
}

void check(std::string_view bytes) {
    std::string reason;
    std::vector<uint64_t> tokens(oauth::TokenStore::kMinRegionSize / 8);
    std::vector<uint64_t> revoked(oauth::RevocationList::kMinRegionSize / 8);
    FUZZ_CHECK(oauth::TokenStore::format(tokens.data(), tokens.size() * 8));
    FUZZ_CHECK(oauth::RevocationList::format(revoked.data(), revoked.size() * 8));
    oauth::TokenStore store(tokens.data(), {nullptr, no_lock, no_lock});
    oauth::RevocationList list(revoked.data(), {nullptr, no_lock, no_lock});
    std::optional<oauth::StateFile> file = oauth::StateFile::parse(bytes, "tokens", reason);
    if (!file) {
        FUZZ_CHECK(!reason.empty());
        check_journal(bytes, store, list);
        return;
    }
    oauth::RestoreCounts counts = oauth::apply_state_file(*file, store, list, kNow);
    FUZZ_CHECK(counts.tokens + counts.expired + counts.revoked + counts.present + counts.refused ==
               file->token_count());
    FUZZ_CHECK(store.live_tokens() <= counts.tokens);
    for (size_t i = 0; i < file->token_count(); ++i) {
        oauth::StateToken token = file->token(i);
        oauth::TokenGrant grant;
        if (store.find(token.digest, kNow, grant)) {
            FUZZ_CHECK(grant.client().size() <= oauth::kMaxClientIdLength);
            FUZZ_CHECK(!list.contains(token.digest, kNow));
        }
    }
    check_journal(bytes, store, list);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string bytes(fuzz::text(data, size));
    check(bytes);
    if (bytes.size() >= oauth::kStateHeaderSize) {
        oauth::Digest sum;
        std::string_view view(bytes);
        oauth::sha256_digest({view.substr(0, 96), view.substr(oauth::kStateHeaderSize)}, sum);
        std::memcpy(&bytes[96], sum.data(), sum.size());
        check(bytes);
    }
    return 0;
}
