// The caseworkers' side of rabta over HTTP: a JSON API under /api/v1/ (token per person, role and
// team checks in CaseService, one audit row per authenticated call: SAFETY C1, C2). The web
// console is console.hpp; the operator commands on tokens and the audit chain are in
// gateway/cli/responders_commands.hpp.
//
// Endpoints (JSON in and out, `Authorization: Bearer <token>` on every one):
//   GET  /api/v1/me                     who she is, her role and team, the outcome codes, whom
//                                       she may assign a case to
//   GET  /api/v1/cases?view=&reference=&status=&severity=&category=&district=&team=&assignee=
//                      &from=&to=&overdue=1&open=1&after=&limit=
//                                       her queue, newest first; "next_after" pages on; an
//                                       unknown parameter is a 400
//   GET  /api/v1/cases/{ref}            one case: answers, consents, notes, the number only with
//                                       her callback consent
//   GET  /api/v1/cases/{ref}/timeline   every event of the case, from the audit log and outbox
//   POST /api/v1/cases/{ref}/ack        stops the escalation ladder (idempotent)
//   POST /api/v1/cases/{ref}/claim
//   POST /api/v1/cases/{ref}/assign     {"to": "<name>"}
//   POST /api/v1/cases/{ref}/notes      {"text": "..."} (1..2000 characters, stored encrypted)
//   POST /api/v1/cases/{ref}/close      {"outcome": "<code>", "reason": "..."} (202 when it waits
//                                       for a supervisor's approval; 409 when closed already)
//   POST /api/v1/cases/{ref}/approve    supervisor: the closing that waits
//   POST /api/v1/cases/{ref}/decline    supervisor: {"reason": "..."}
//   POST /api/v1/cases/{ref}/reopen     supervisor: {"reason": "..."} (409 unless closed)
//   POST /api/v1/cases/{ref}/refer      {"partner": "<name>"}: only with her consent for the
//                                       partner's purpose in this case (409 no_consent)
// The contract is docs/api/openapi.json, checked against this code by ApiContract
// (tests/responders/caseworker_api_test.cpp): keep them together.
//   GET  /api/v1/reports?weeks=12       per week and team: time to acknowledge (median, p90),
//                                       share within SLA, outcomes; open cases by age; small
//                                       cells suppressed (reports.hpp); /reports.csv the same
//   GET  /api/v1/export                 with can_export only: every case she may see, without
//                                       answers, notes or numbers; the district only with her
//                                       referral consent
// Errors: 400 {"error":"bad_request","reason":...}, 409 {"error":"conflict","reason":...}, 401
// (with WWW-Authenticate; "token_expired" only for the right secret past its expiry), 403, 404
// (also for a case she may not see), 405, 429 after too many failed sign-ins from her address (with
// Retry-After, see api_token.hpp), 503 when the database job failed. Every failed sign-in with a
// token is audited (sign_in_failed).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "adapters/common/cipher.hpp"
#include "adapters/common/clock.hpp"
#include "adapters/common/crypto.hpp"
#include "adapters/store/store.hpp"
#include "gateway/http/http_types.hpp"
#include "gateway/responders/api_token.hpp"
#include "gateway/responders/case_service.hpp"
#include "gateway/responders/reports.hpp"
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

class CaseworkerApi {
 public:
  static constexpr const char* prefix = "/api/v1/";

  // `zone`: the service's time zone (reports count weeks in it).
  CaseworkerApi(store::Store& store, const CaseService& cases, const common::Clock& clock,
                flows::Zone zone = *flows::parse_zone("UTC"));

  // Never blocks: the work is one store job per request and the response is sent from its Done
  // (on the store's writer thread).
  void handle(HttpRequest&& request, Responder respond);
  // handle() as a Handler for AppOptions::prefix_routes (the API must outlive the server).
  Handler handler();

 private:
  store::Store& store_;
  const CaseService& cases_;
  const common::Clock& clock_;
  flows::Zone zone_;
  SignInLimiter sign_ins_;

  Report build_case_report(store::Tx& tx, const Actor& actor, int weeks, std::int64_t now) const;
};

}  // namespace rabta::gateway
