// The caseworker console's static files (console/), embedded in the binary at build time.
#pragma once

#include "gateway/http/http_types.hpp"

namespace rabta::gateway {

// The web console: GET /console/ (index.html), /console/app.js, /console/app.css, embedded in
// the binary; /console redirects to /console/. Mount it at the prefix "/console".
Handler console_handler();

}  // namespace rabta::gateway
