// The web UI: one self-contained page (HTML, CSS and JavaScript inline, no CDN), embedded in the
// binary at build time from src/server/web/index.html.
#pragma once

#include <string_view>

namespace glimpse::server {

std::string_view web_ui_html();

}  // namespace glimpse::server
