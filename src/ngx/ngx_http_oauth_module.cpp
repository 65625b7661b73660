#include "ngx/ngx.hpp"

extern "C" ngx_module_t ngx_http_oauth_module;

namespace {
ngx_command_t commands[] = {ngx_null_command};
ngx_http_module_t moduleCtx = {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
}

ngx_module_t ngx_http_oauth_module = {NGX_MODULE_V1, &moduleCtx, commands, NGX_HTTP_MODULE, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, NGX_MODULE_V1_PADDING};
