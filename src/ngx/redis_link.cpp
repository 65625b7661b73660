// The hiredis adapter: hiredis' async context reads and writes through an
// ngx_connection_t made over its socket, so its replies arrive on nginx's
// event loop like any other connection's data. Its events are level
// triggered: hiredis reads what one call gives it and expects to hear again
// while more is buffered. Every timer is cancelable, so that a worker
// shutting down gracefully never waits for Redis.
//
// The address was resolved when the configuration was read: hiredis'
// connect then never blocks on a name lookup.
#include "ngx/redis_link.hpp"

#include <algorithm>
#include <new>

namespace oauth_ngx {

namespace {

constexpr ngx_msec_t kConnectTimeout = 1000;
constexpr ngx_msec_t kHandshakeTimeout = 2000;
constexpr ngx_msec_t kFirstRetry = 100;
constexpr ngx_msec_t kLongestRetry = 5000;

}  // namespace

struct RedisLink::Call {
    RedisLink *link;
    ReplyHandler handler;
    void *data;
};

RedisLink::RedisLink(const FleetConf &conf, Owner &owner, ngx_log_t *log) noexcept
    : conf_(conf), owner_(owner), log_(log) {
    deadline_.handler = onTimer;
    deadline_.data = this;
    deadline_.log = log;
    deadline_.cancelable = 1;
    retry_.handler = onReconnect;
    retry_.data = this;
    retry_.log = log;
    retry_.cancelable = 1;
}

void RedisLink::open() noexcept {
    if (open_) {
        return;
    }
    open_ = true;
    failures_ = 0;
    connect();
}

void RedisLink::close() noexcept {
    open_ = false;
    if (retry_.timer_set) {
        ngx_del_timer(&retry_);
    }
    if (deadline_.timer_set) {
        ngx_del_timer(&deadline_);
    }
    ready_ = false;
    outstanding_ = 0;
    if (ac_ != nullptr) {
        redisAsyncContext *ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac);
    }
}

void RedisLink::fail(const std::string &reason) noexcept {
    lost(reason);
}

// ---- the socket on nginx's event loop ------------------------------------------

void RedisLink::addRead(void *privdata) {
    auto *link = static_cast<RedisLink *>(privdata);
    ngx_event_t *ev = link->connection_->read;
    if (!ev->active) {
        ngx_add_event(ev, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}

void RedisLink::delRead(void *privdata) {
    auto *link = static_cast<RedisLink *>(privdata);
    ngx_event_t *ev = link->connection_->read;
    if (ev->active) {
        ngx_del_event(ev, NGX_READ_EVENT, 0);
    }
}

void RedisLink::addWrite(void *privdata) {
    auto *link = static_cast<RedisLink *>(privdata);
    ngx_event_t *ev = link->connection_->write;
    if (!ev->active) {
        ngx_add_event(ev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}

void RedisLink::delWrite(void *privdata) {
    auto *link = static_cast<RedisLink *>(privdata);
    ngx_event_t *ev = link->connection_->write;
    if (ev->active) {
        ngx_del_event(ev, NGX_WRITE_EVENT, 0);
    }
}

// hiredis is about to close the socket: nginx forgets it first.
void RedisLink::cleanup(void *privdata) {
    auto *link = static_cast<RedisLink *>(privdata);
    ngx_connection_t *c = link->connection_;
    if (c == nullptr) {
        return;
    }
    forgetForeignConnection(c);
    link->connection_ = nullptr;
}

void RedisLink::onEvent(ngx_event_t *ev) {
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    auto *link = static_cast<RedisLink *>(c->data);
    if (link->ac_ == nullptr) {
        return;
    }
    if (ev->write) {
        redisAsyncHandleWrite(link->ac_);
    } else {
        redisAsyncHandleRead(link->ac_);
    }
}

// ---- connecting ----------------------------------------------------------------

void RedisLink::connect() noexcept {
    redisAsyncContext *ac = conf_.unix_path.empty()
                                ? redisAsyncConnect(conf_.host.c_str(), conf_.port)
                                : redisAsyncConnectUnix(conf_.unix_path.c_str());
    if (ac == nullptr || ac->err != 0) {
        std::string reason = ac != nullptr ? ac->errstr : "out of memory";
        if (ac != nullptr) {
            redisAsyncFree(ac);
        }
        lost(reason);
        return;
    }
    ngx_connection_t *c = ngx_get_connection(ac->c.fd, log_);
    if (c == nullptr) {
        redisAsyncFree(ac);
        lost("no free nginx connection for it");
        return;
    }
    c->data = this;
    c->read->handler = onEvent;
    c->write->handler = onEvent;
    c->read->log = log_;
    c->write->log = log_;
    connection_ = c;
    ac_ = ac;
    ac->data = this;
    ac->ev.data = this;
    ac->ev.addRead = addRead;
    ac->ev.delRead = delRead;
    ac->ev.addWrite = addWrite;
    ac->ev.delWrite = delWrite;
    ac->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(ac, onConnect);
    redisAsyncSetDisconnectCallback(ac, onDisconnect);
    // The socket turning writable is the end of the connect.
    addWrite(this);
    handshake_ = 0;
    if (!conf_.password.empty()) {
        handshake_ += send({"AUTH", conf_.password}, kHandshakeTimeout, onHandshake, this);
    }
    if (conf_.db >= 0) {
        handshake_ +=
            send({"SELECT", std::to_string(conf_.db)}, kHandshakeTimeout, onHandshake, this);
    }
    armDeadline(kConnectTimeout);
}

void RedisLink::onConnect(const redisAsyncContext *ac, int status) {
    auto *link = static_cast<RedisLink *>(ac->data);
    if (link->ac_ != ac) {
        return;
    }
    if (status != REDIS_OK) {
        // hiredis frees the context once this returns.
        link->ac_ = nullptr;
        link->lost(ac->errstr);
        return;
    }
    if (link->handshake_ == 0) {
        link->ready_ = true;
        link->failures_ = 0;
        if (link->outstanding_ == 0 && link->deadline_.timer_set) {
            ngx_del_timer(&link->deadline_);
        }
        link->owner_.linkUp(*link);
    }
}

void RedisLink::onHandshake(void *data, redisReply *reply) {
    auto *link = static_cast<RedisLink *>(data);
    if (reply == nullptr) {
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        // Redis' own words; never the password, which it does not repeat.
        link->fail(std::string("AUTH or SELECT refused: ") + reply->str);
        return;
    }
    if (--link->handshake_ == 0) {
        link->ready_ = true;
        link->failures_ = 0;
        link->owner_.linkUp(*link);
    }
}

void RedisLink::onDisconnect(const redisAsyncContext *ac, int status) {
    auto *link = static_cast<RedisLink *>(ac->data);
    if (link->ac_ != ac) {
        return;  // our own redisAsyncFree()
    }
    link->ac_ = nullptr;  // hiredis frees it once this returns
    link->lost(status == REDIS_OK ? "closed" : ac->errstr);
}

void RedisLink::lost(const std::string &reason) noexcept {
    ready_ = false;
    outstanding_ = 0;
    handshake_ = 0;
    if (deadline_.timer_set) {
        ngx_del_timer(&deadline_);
    }
    if (ac_ != nullptr) {
        redisAsyncContext *ac = ac_;
        ac_ = nullptr;
        redisAsyncFree(ac);  // deferred by hiredis when inside one of its callbacks
    }
    if (open_ && !retry_.timer_set) {
        ngx_msec_t delay = std::min(kLongestRetry, kFirstRetry << std::min(failures_, 6u));
        ++failures_;
        ngx_add_timer(&retry_, delay);
    }
    owner_.linkDown(*this, reason);
}

void RedisLink::onReconnect(ngx_event_t *ev) {
    auto *link = static_cast<RedisLink *>(ev->data);
    if (link->open_ && link->ac_ == nullptr) {
        link->connect();
    }
}

void RedisLink::onTimer(ngx_event_t *ev) {
    auto *link = static_cast<RedisLink *>(ev->data);
    link->lost(link->ready_ || link->handshake_ != 0 ? "no answer in time (a hung Redis?)"
                                                     : "no connection in time");
}

// ---- commands ------------------------------------------------------------------

void RedisLink::armDeadline(ngx_msec_t timeout) noexcept {
    ngx_add_timer(&deadline_, timeout);  // a later command moves it later
}

bool RedisLink::send(const std::vector<std::string> &args, ngx_msec_t timeout, ReplyHandler handler,
                     void *data) noexcept {
    auto *call = new (std::nothrow) Call{this, handler, data};
    if (call == nullptr || args.size() > 64) {
        delete call;
        return false;
    }
    const char *argv[64];
    size_t lengths[64];
    for (size_t i = 0; i < args.size(); ++i) {
        argv[i] = args[i].data();
        lengths[i] = args[i].size();
    }
    if (redisAsyncCommandArgv(ac_, onReply, call, int(args.size()), argv, lengths) != REDIS_OK) {
        delete call;
        return false;
    }
    ++outstanding_;
    armDeadline(timeout);
    return true;
}

bool RedisLink::command(const std::vector<std::string> &args, ngx_msec_t timeout,
                        ReplyHandler handler, void *data) noexcept {
    return ready_ && ac_ != nullptr && send(args, timeout, handler, data);
}

void RedisLink::onReply(redisAsyncContext *ac, void *reply, void *privdata) {
    auto *call = static_cast<Call *>(privdata);
    Call copy = *call;
    delete call;
    RedisLink *link = copy.link;
    if (link->ac_ == ac && link->outstanding_ > 0 && --link->outstanding_ == 0 &&
        link->deadline_.timer_set) {
        ngx_del_timer(&link->deadline_);
    }
    try {
        copy.handler(copy.data, link->ac_ == ac ? static_cast<redisReply *>(reply) : nullptr);
    } catch (...) {
        // Nothing may cross into hiredis' C; the link starts afresh.
        ngx_log_error(NGX_LOG_ERR, link->log_, 0, "oauth_fleet_redis: out of memory");
        link->lost("out of memory");
    }
}

}  // namespace oauth_ngx
