// One connection to Redis for the fleet (redis_link.cpp): hiredis' async API
// on nginx's event loop, with timers for the connect and for each command,
// AUTH and SELECT once connected, and reconnection with a capped backoff.
#pragma once

#include "ngx/module.hpp"

#include <string>
#include <vector>

extern "C" {
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
}

namespace oauth_ngx {

class RedisLink {
  public:
    // What the owner hears: the link ready (connected, AUTH and SELECT done),
    // and the link gone (it reconnects by itself unless closed).
    struct Owner {
        virtual void linkUp(RedisLink &link) = 0;
        virtual void linkDown(RedisLink &link, const std::string &reason) = 0;

      protected:
        ~Owner() = default;
    };
    // A command's reply; nullptr when the link went away before it came.
    using ReplyHandler = void (*)(void *data, redisReply *reply);

    RedisLink(const FleetConf &conf, Owner &owner, ngx_log_t *log) noexcept;
    RedisLink(const RedisLink &) = delete;
    RedisLink &operator=(const RedisLink &) = delete;
    ~RedisLink() { close(); }

    void open() noexcept;   // connects now, then again after each loss
    void close() noexcept;  // for good, until open(); pending replies get nullptr
    bool ready() const noexcept { return ready_; }

    // Sends a command; its reply must come within `timeout`, or the link is
    // dropped (a hung Redis). False when the link is not ready.
    bool command(const std::vector<std::string> &args, ngx_msec_t timeout, ReplyHandler handler,
                 void *data) noexcept;

    // Drops the link (a reply that makes no sense) and reconnects later.
    void fail(const std::string &reason) noexcept;

  private:
    struct Call;
    static void onReply(redisAsyncContext *ac, void *reply, void *privdata);
    static void onConnect(const redisAsyncContext *ac, int status);
    static void onDisconnect(const redisAsyncContext *ac, int status);
    static void onHandshake(void *data, redisReply *reply);
    static void onTimer(ngx_event_t *ev);
    static void onReconnect(ngx_event_t *ev);
    static void addRead(void *privdata);
    static void delRead(void *privdata);
    static void addWrite(void *privdata);
    static void delWrite(void *privdata);
    static void cleanup(void *privdata);
    static void onEvent(ngx_event_t *ev);

    void connect() noexcept;
    void lost(const std::string &reason) noexcept;  // frees the context, schedules a retry
    void armDeadline(ngx_msec_t timeout) noexcept;
    bool send(const std::vector<std::string> &args, ngx_msec_t timeout, ReplyHandler handler,
              void *data) noexcept;

    const FleetConf &conf_;
    Owner &owner_;
    ngx_log_t *log_;
    redisAsyncContext *ac_ = nullptr;
    ngx_connection_t *connection_ = nullptr;
    ngx_event_t deadline_{};
    ngx_event_t retry_{};
    size_t outstanding_ = 0;
    size_t handshake_ = 0;  // AUTH and SELECT replies still to come
    unsigned failures_ = 0;
    bool ready_ = false;
    bool open_ = false;
};

}  // namespace oauth_ngx
