// The workers' fetching of keys from a URL: libcurl's multi interface on
// nginx's event loop (its sockets become ngx_connection_t read and write
// events, its timeout an nginx timer), so that no worker ever waits on an
// IdP. Each second, a worker looks at every source's shared record
// (core/jose/jwks_refresh): whoever takes the fetch lease fetches, checks
// what it got with the JWK Set parser of jwks=FILE, and only then stores it
// for every worker. A worker parses the stored set again only when its
// version moved. Every timer is cancelable: a worker shutting down gracefully
// never waits for an IdP.
#include "ngx/jwks_source.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "core/jose/gate.hpp"
#include "core/jose/key.hpp"

namespace oauth_ngx {

namespace {

constexpr ngx_msec_t kTick = 1000;
constexpr long kExchangeDeadlineMs = 10000;  // a whole fetch, discovery included
constexpr size_t kMaxErrorLength = sizeof(SharedSource::last_error) - 1;

enum class Stage { openid_configuration, oauth_metadata, jwks };

struct Transfer {
    size_t source;
    Stage stage;
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    std::string body;
    std::string cache_control;
    bool too_big = false;
    ngx_msec_t deadline;
    char error[CURL_ERROR_SIZE] = {};
};

// What one worker keeps of one source: the keys of the version it parsed,
// and its transfer, when it fetches.
struct WorkerSource {
    std::string key;  // of its shared record (sourceKey), made once
    uint64_t version = 0;
    std::vector<oauth::jose::Key> keys;
    Transfer *transfer = nullptr;
};

struct Fetcher {
    const JwksSources *conf = nullptr;
    ngx_log_t *log = nullptr;
    CURLM *multi = nullptr;
    ngx_event_t tick{};
    ngx_event_t curl_timer{};
    std::vector<WorkerSource> sources;
};

Fetcher *fetcher = nullptr;  // this worker's; nullptr without URL sources

uint32_t now() {
    return uint32_t(ngx_time());
}

std::string cut(std::string text) {
    if (text.size() > kMaxErrorLength) {
        text.resize(kMaxErrorLength);
    }
    return text;
}

// ---- curl's sockets and timer on nginx's event loop -------------------------

void reapFinished();

void setEvent(ngx_event_t *ev, int kind, bool wanted) {
    if (wanted && !ev->active) {
        ngx_add_event(ev, kind, NGX_LEVEL_EVENT);
    } else if (!wanted && ev->active) {
        ngx_del_event(ev, kind, 0);
    }
}

void onSocketEvent(ngx_event_t *ev) {
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    int running = 0;
    curl_multi_socket_action(fetcher->multi, c->fd, ev->write ? CURL_CSELECT_OUT : CURL_CSELECT_IN,
                             &running);
    reapFinished();
}

int onSocket(CURL *, curl_socket_t socket, int what, void *, void *socketp) {
    auto *c = static_cast<ngx_connection_t *>(socketp);
    if (what == CURL_POLL_REMOVE) {
        if (c != nullptr) {
            forgetForeignConnection(c);  // curl closes the socket itself
            curl_multi_assign(fetcher->multi, socket, nullptr);
        }
        return 0;
    }
    if (c == nullptr) {
        c = ngx_get_connection(socket, fetcher->log);
        if (c == nullptr) {
            return -1;
        }
        c->data = fetcher;
        c->read->handler = onSocketEvent;
        c->write->handler = onSocketEvent;
        c->read->log = fetcher->log;
        c->write->log = fetcher->log;
        curl_multi_assign(fetcher->multi, socket, c);
    }
    setEvent(c->read, NGX_READ_EVENT, what == CURL_POLL_IN || what == CURL_POLL_INOUT);
    setEvent(c->write, NGX_WRITE_EVENT, what == CURL_POLL_OUT || what == CURL_POLL_INOUT);
    return 0;
}

int onCurlTimer(CURLM *, long timeout_ms, void *) {
    if (fetcher->curl_timer.timer_set) {
        ngx_del_timer(&fetcher->curl_timer);
    }
    if (timeout_ms >= 0) {
        ngx_add_timer(&fetcher->curl_timer, ngx_msec_t(std::max(timeout_ms, 1L)));
    }
    return 0;
}

void onCurlTimeout(ngx_event_t *) {
    int running = 0;
    curl_multi_socket_action(fetcher->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    reapFinished();
}

// ---- one transfer -----------------------------------------------------------

size_t onBody(char *data, size_t size, size_t count, void *userp) {
    auto *transfer = static_cast<Transfer *>(userp);
    size_t length = size * count;
    if (transfer->body.size() + length > kMaxFetchedBody) {
        transfer->too_big = true;
        return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
    }
    try {
        transfer->body.append(data, length);
    } catch (const std::bad_alloc &) {
        return 0;
    }
    return length;
}

// Cache-Control of the last response (a redirect's own do not count).
size_t onHeader(char *data, size_t size, size_t count, void *userp) {
    auto *transfer = static_cast<Transfer *>(userp);
    std::string_view line(data, size * count);
    constexpr std::string_view kName = "cache-control:";
    try {
        if (line.substr(0, 5) == "HTTP/") {
            transfer->cache_control.clear();
        } else if (line.size() > kName.size() &&
                   std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
                       return a == std::tolower(static_cast<unsigned char>(b));
                   })) {
            transfer->cache_control.append(line.substr(kName.size())).append(",");
        }
    } catch (const std::bad_alloc &) {
        return 0;
    }
    return size * count;
}

const JwksSource &sourceOf(const Transfer &transfer) {
    return fetcher->conf->list[transfer.source];
}

std::string urlOf(const Transfer &transfer, const std::string &jwks_uri) {
    const JwksSource &source = sourceOf(transfer);
    switch (transfer.stage) {
        case Stage::openid_configuration:
            return oauth::jose::openid_configuration_url(source.issuer);
        case Stage::oauth_metadata:
            return oauth::jose::oauth_metadata_url(source.issuer);
        case Stage::jwks:
            break;
    }
    return jwks_uri;
}

// https with the certificate and host name checked against
// oauth_trusted_certificate; redirects only to https; within what is left
// of the exchange's deadline.
bool startStage(Transfer &transfer, Stage stage, const std::string &jwks_uri) {
    transfer.stage = stage;
    transfer.body.clear();
    transfer.cache_control.clear();
    transfer.too_big = false;
    transfer.error[0] = '\0';
    std::string url = urlOf(transfer, jwks_uri);
    ngx_msec_t left =
        transfer.deadline > ngx_current_msec ? transfer.deadline - ngx_current_msec : 1;
    CURL *easy = transfer.easy;
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(left));
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE, long(kMaxFetchedBody));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error);
    curl_easy_setopt(easy, CURLOPT_CAINFO, fetcher->conf->ca_file.c_str());
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "ngx_http_oauth_module");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &transfer);
    return curl_multi_add_handle(fetcher->multi, easy) == CURLM_OK;
}

void endTransfer(Transfer *transfer) {
    fetcher->sources[transfer->source].transfer = nullptr;
    curl_easy_cleanup(transfer->easy);
    curl_slist_free_all(transfer->headers);
    delete transfer;
}

// ---- what a fetch leaves in the zone ----------------------------------------

// The record, when it is still this source's: a worker of a configuration
// reloaded since finds another source's there, or none.
SharedSource *ownRecord(size_t index) {
    SharedSource *shared = sharedSource(*fetcher->conf, index);
    const std::string &key = fetcher->sources[index].key;
    bool ours = shared != nullptr && shared->key_length == key.size() &&
                std::memcmp(shared->key, key.data(), key.size()) == 0;
    return ours ? shared : nullptr;
}

void logSkipped(const JwksSource &source, const std::vector<oauth::jose::SkippedKey> &skipped) {
    for (const oauth::jose::SkippedKey &key : skipped) {
        ngx_uint_t level = key.alarming ? NGX_LOG_WARN : NGX_LOG_NOTICE;
        ngx_log_error(level, fetcher->log, 0,
                      "oauth_trust_issuer \"%s\": key %uz (kid \"%s\") of the fetched JWK Set "
                      "skipped: %s",
                      source.issuer.c_str(), key.position, key.kid.c_str(), key.why.c_str());
    }
}

void storeKeys(const Transfer &transfer, const std::vector<oauth::jose::SkippedKey> &skipped) {
    const JwksSource &source = sourceOf(transfer);
    std::optional<uint32_t> max_age = oauth::jose::max_age(transfer.cache_control);
    lockJwksZone(*fetcher->conf);
    SharedSource *shared = ownRecord(transfer.source);
    if (shared == nullptr) {
        unlockJwksZone(*fetcher->conf);
        return;
    }
    bool changed = shared->text_length != transfer.body.size() ||
                   std::memcmp(shared->text, transfer.body.data(), transfer.body.size()) != 0;
    uint32_t failures = shared->record.failures;
    char last_failure[sizeof shared->last_error];
    std::memcpy(last_failure, shared->last_error, sizeof last_failure);
    std::memcpy(shared->text, transfer.body.data(), transfer.body.size());
    shared->text_length = uint32_t(transfer.body.size());
    oauth::jose::fetch_succeeded(shared->record, now(), source.refresh, max_age, changed);
    ++shared->fetches_ok;
    shared->last_error[0] = '\0';
    uint64_t version = shared->record.version;
    unlockJwksZone(*fetcher->conf);
    if (failures != 0) {
        ngx_log_error(NGX_LOG_NOTICE, fetcher->log, 0,
                      "oauth_trust_issuer \"%s\": keys fetched again after %uD failed fetches, "
                      "the last: %s",
                      source.issuer.c_str(), failures, last_failure);
    }
    if (changed) {
        logSkipped(source, skipped);
        ngx_log_error(NGX_LOG_NOTICE, fetcher->log, 0,
                      "oauth_trust_issuer \"%s\": keys fetched (version %uL)",
                      source.issuer.c_str(), version);
    }
}

// Logged once a streak, at its start: a retry that fails too says nothing new.
void recordFailure(const Transfer &transfer, const std::string &why) {
    const JwksSource &source = sourceOf(transfer);
    std::string text = cut(why);
    lockJwksZone(*fetcher->conf);
    SharedSource *shared = ownRecord(transfer.source);
    if (shared == nullptr) {
        unlockJwksZone(*fetcher->conf);
        return;
    }
    bool first = oauth::jose::fetch_failed(shared->record, now(), source.refresh);
    ++shared->fetches_failed;
    std::memcpy(shared->last_error, text.c_str(), text.size() + 1);
    bool has_keys = shared->text_length != 0;
    unlockJwksZone(*fetcher->conf);
    if (first) {
        ngx_log_error(NGX_LOG_WARN, fetcher->log, 0,
                      "oauth_trust_issuer \"%s\": cannot fetch its keys from %s: %s; %s",
                      source.issuer.c_str(), source.url.c_str(), text.c_str(),
                      has_keys ? "the last good keys stay in service, retried with back-off"
                               : "its tokens are refused until a fetch succeeds");
    }
}

// ---- a finished stage --------------------------------------------------------

std::string transferProblem(Transfer &transfer, CURLcode result) {
    if (transfer.too_big || result == CURLE_FILESIZE_EXCEEDED) {
        return "the answer is larger than " + std::to_string(kMaxFetchedBody / 1024) + " KiB";
    }
    if (result != CURLE_OK) {
        return transfer.error[0] != '\0' ? transfer.error : curl_easy_strerror(result);
    }
    long status = 0;
    curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
    return status == 200 ? std::string() : "HTTP status " + std::to_string(status);
}

// The next stage's start, or the end of the fetch with its outcome.
void finishStage(Transfer *transfer, CURLcode result) {
    std::string problem = transferProblem(*transfer, result);
    const JwksSource &source = sourceOf(*transfer);
    if (transfer->stage != Stage::jwks) {
        bool first_try = transfer->stage == Stage::openid_configuration;
        std::string jwks_uri;
        if (problem.empty() &&
            oauth::jose::read_discovery(transfer->body, source.issuer, jwks_uri, problem)) {
            if (startStage(*transfer, Stage::jwks, jwks_uri)) {
                return;
            }
            problem = "out of memory";
        } else if (first_try && startStage(*transfer, Stage::oauth_metadata, jwks_uri)) {
            return;
        }
        recordFailure(*transfer, "discovery: " + problem);
        endTransfer(transfer);
        return;
    }
    std::vector<oauth::jose::Key> keys;
    std::vector<oauth::jose::SkippedKey> skipped;
    if (problem.empty() && !oauth::jose::parse_jwk_set(transfer->body, keys, skipped, problem)) {
        problem = "no usable JWK Set: " + problem;
    }
    if (problem.empty()) {
        storeKeys(*transfer, skipped);
    } else {
        recordFailure(*transfer, problem);
    }
    endTransfer(transfer);
}

void reapFinished() {
    int left = 0;
    while (CURLMsg *message = curl_multi_info_read(fetcher->multi, &left)) {
        if (message->msg != CURLMSG_DONE) {
            continue;
        }
        CURL *easy = message->easy_handle;
        CURLcode result = message->data.result;
        Transfer *transfer = nullptr;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &transfer);
        curl_multi_remove_handle(fetcher->multi, easy);
        try {
            finishStage(transfer, result);
        } catch (const std::bad_alloc &) {
            ngx_log_error(NGX_LOG_ERR, fetcher->log, 0, "oauth_trust_issuer: out of memory");
            endTransfer(transfer);
        }
    }
}

// ---- the schedule --------------------------------------------------------------

void startFetch(size_t index) {
    auto *transfer = new (std::nothrow) Transfer();
    if (transfer == nullptr) {
        return;
    }
    transfer->source = index;
    transfer->deadline = ngx_current_msec + kExchangeDeadlineMs;
    transfer->easy = curl_easy_init();
    transfer->headers = curl_slist_append(nullptr, "Accept: application/json");
    fetcher->sources[index].transfer = transfer;
    const JwksSource &source = fetcher->conf->list[index];
    Stage first = source.discovery ? Stage::openid_configuration : Stage::jwks;
    if (transfer->easy == nullptr || transfer->headers == nullptr ||
        !startStage(*transfer, first, source.url)) {
        recordFailure(*transfer, "out of memory");
        endTransfer(transfer);
    }
}

// Whether this worker takes the fetch of source `index` now.
bool takeFetch(size_t index) {
    lockJwksZone(*fetcher->conf);
    SharedSource *shared = ownRecord(index);
    uint32_t holder = shared != nullptr ? shared->record.lease_holder : 0;
    unlockJwksZone(*fetcher->conf);
    bool holder_alive = holder == 0 || holder == uint32_t(ngx_pid) || isAlive(holder);
    lockJwksZone(*fetcher->conf);
    bool taken = shared != nullptr &&
                 oauth::jose::take_fetch(shared->record, uint32_t(ngx_pid), now(), holder_alive);
    unlockJwksZone(*fetcher->conf);
    return taken;
}

void onTick(ngx_event_t *ev) {
    for (size_t i = 0; i < fetcher->sources.size(); ++i) {
        if (fetcher->sources[i].transfer == nullptr && takeFetch(i)) {
            startFetch(i);
        }
    }
    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, kTick);
    }
}

void initEvent(ngx_event_t &ev, ngx_event_handler_pt handler, ngx_log_t *log) {
    ev.handler = handler;
    ev.data = fetcher;
    ev.log = log;
    ev.cancelable = 1;
}

}  // namespace

// ---- what requests use ------------------------------------------------------------

namespace {

// The worker's keys of source `index` at the shared set's version. The text
// is copied out under the lock, into memory allocated outside it: nothing
// that may throw runs while the other workers wait for the lock.
void syncWorkerCopy(size_t index) {
    WorkerSource &mine = fetcher->sources[index];
    lockJwksZone(*fetcher->conf);
    const SharedSource *shared = ownRecord(index);
    uint64_t version = shared != nullptr ? shared->record.version : mine.version;
    size_t length = shared != nullptr ? shared->text_length : 0;
    unlockJwksZone(*fetcher->conf);
    if (version == mine.version) {
        return;
    }
    std::string text(length, '\0');
    lockJwksZone(*fetcher->conf);
    bool same = shared == ownRecord(index) && shared->record.version == version &&
                shared->text_length == length;
    if (same) {
        std::memcpy(text.data(), shared->text, length);
    }
    unlockJwksZone(*fetcher->conf);
    std::vector<oauth::jose::Key> keys;
    std::vector<oauth::jose::SkippedKey> skipped;
    std::string error;
    if (same && oauth::jose::parse_jwk_set(text, keys, skipped, error)) {
        mine.keys = std::move(keys);
        mine.version = version;
    }
}

}  // namespace

// A worker's keys of a source follow the shared set's version; a location's
// copy follows the worker's. A token seen before with other keys must be
// checked afresh, so the worker forgets the tokens it saw. Out of memory,
// the keys stay as they were.
void syncFetchedKeys(std::vector<oauth::jose::TrustedIssuer> &trusted) noexcept {
    if (fetcher == nullptr) {
        return;
    }
    try {
        for (oauth::jose::TrustedIssuer &issuer : trusted) {
            if (issuer.source == 0) {
                continue;
            }
            syncWorkerCopy(issuer.source - 1);
            const WorkerSource &mine = fetcher->sources[issuer.source - 1];
            if (issuer.version != mine.version) {
                issuer.keys = mine.keys;
                issuer.version = mine.version;
                oauth::jose::forget_seen_tokens();
            }
        }
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_ERR, fetcher->log, 0, "oauth_trust_issuer: out of memory");
    }
}

// An unknown kid of a source's issuer: a refetch, unless one was made too
// recently. True when one is coming, worth waiting for.
bool demandFetchedKeys(size_t source) {
    if (fetcher == nullptr) {
        return false;
    }
    lockJwksZone(*fetcher->conf);
    SharedSource *shared = ownRecord(source - 1);
    bool demanded = shared != nullptr && oauth::jose::demand_fetch(shared->record, now());
    bool under_way =
        shared != nullptr && shared->record.lease_holder != 0 && now() < shared->record.lease_until;
    unlockJwksZone(*fetcher->conf);
    if (demanded) {
        if (fetcher->tick.timer_set) {
            ngx_del_timer(&fetcher->tick);
        }
        ngx_add_timer(&fetcher->tick, 1);
    }
    return demanded || under_way;
}

uint64_t fetchedKeysVersion(size_t source) {
    if (fetcher == nullptr) {
        return 0;
    }
    lockJwksZone(*fetcher->conf);
    SharedSource *shared = ownRecord(source - 1);
    uint64_t version = shared != nullptr ? shared->record.version : 0;
    unlockJwksZone(*fetcher->conf);
    return version;
}

// ---- the worker's start and end --------------------------------------------------

ngx_int_t startJwksFetching(ngx_cycle_t *cycle) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oauth_module));
    if (mcf == nullptr || mcf->jwks_sources == nullptr || mcf->jwks_sources->list.empty()) {
        return NGX_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "oauth_trust_issuer: libcurl does not start");
        return NGX_ERROR;
    }
    fetcher = new (std::nothrow) Fetcher();
    if (fetcher == nullptr) {
        return NGX_ERROR;
    }
    fetcher->conf = mcf->jwks_sources;
    fetcher->log = cycle->log;
    fetcher->multi = curl_multi_init();
    try {
        fetcher->sources.resize(fetcher->conf->list.size());
        for (size_t i = 0; i < fetcher->sources.size(); ++i) {
            fetcher->sources[i].key = sourceKey(fetcher->conf->list[i]);
        }
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    if (fetcher->multi == nullptr) {
        return NGX_ERROR;
    }
    curl_multi_setopt(fetcher->multi, CURLMOPT_SOCKETFUNCTION, onSocket);
    curl_multi_setopt(fetcher->multi, CURLMOPT_TIMERFUNCTION, onCurlTimer);
    initEvent(fetcher->tick, onTick, cycle->log);
    initEvent(fetcher->curl_timer, onCurlTimeout, cycle->log);
    ngx_add_timer(&fetcher->tick, 1);  // the first fetch, right after the start
    return NGX_OK;
}

void stopJwksFetching(ngx_cycle_t *) {
    if (fetcher == nullptr) {
        return;
    }
    if (fetcher->tick.timer_set) {
        ngx_del_timer(&fetcher->tick);
    }
    if (fetcher->curl_timer.timer_set) {
        ngx_del_timer(&fetcher->curl_timer);
    }
    for (WorkerSource &source : fetcher->sources) {
        if (source.transfer != nullptr) {
            curl_multi_remove_handle(fetcher->multi, source.transfer->easy);
            endTransfer(source.transfer);
        }
    }
    curl_multi_cleanup(fetcher->multi);
    delete fetcher;
    fetcher = nullptr;
}

}  // namespace oauth_ngx
