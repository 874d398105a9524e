// The caseworkers' side of rabta over HTTP: a JSON API under /api/v1/ (token per person, role and
// team checks in CaseService, one audit row per authenticated call: SAFETY C1, C2), the web
// console under /console/ (static files embedded at build time), and the operator commands that
// issue API tokens and check the audit chain.
//
// Endpoints (JSON in and out, `Authorization: Bearer <token>` on every one):
//   GET  /api/v1/me                     who she is, her role and team, the outcome codes
//   GET  /api/v1/cases?status=&severity=&open=1&after=&limit=
//                                       her queue, newest first; "next_after" pages on
//   GET  /api/v1/cases/{ref}            one case: answers, consents, notes, the number only with
//                                       her callback consent
//   POST /api/v1/cases/{ref}/ack        stops the escalation ladder (idempotent)
//   POST /api/v1/cases/{ref}/claim
//   POST /api/v1/cases/{ref}/notes      {"text": "..."} (1..2000 characters, stored encrypted)
//   POST /api/v1/cases/{ref}/close      {"outcome": "<one of the configured codes>"}
//   GET  /api/v1/export                 with can_export only: every case she may see, without
//                                       answers, notes or numbers; the district only with her
//                                       referral consent
// Errors: 400 {"error":"bad_request","reason":...}, 401 (with WWW-Authenticate; "token_expired"
// only for the right secret past its expiry), 403, 404 (also for a case she may not see), 405,
// 429 after too many failed sign-ins from her address (with Retry-After, see api_token.hpp), 503
// when the database job failed. Every failed sign-in with a token is audited (sign_in_failed).
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
#include "gateway/responders/responders.hpp"

namespace rabta::gateway {

class CaseworkerApi {
 public:
  static constexpr const char* prefix = "/api/v1/";

  CaseworkerApi(store::Store& store, const CaseService& cases, const Clock& clock);

  // Never blocks: the work is one store job per request and the response is sent from its Done
  // (on the store's writer thread).
  void handle(HttpRequest&& request, Responder respond);
  // handle() as a Handler for AppOptions::prefix_routes (the API must outlive the server).
  Handler handler();

 private:
  store::Store& store_;
  const CaseService& cases_;
  const Clock& clock_;
  SignInLimiter sign_ins_;
};

// The web console: GET /console/ (index.html), /console/app.js, /console/app.css, embedded in
// the binary; /console redirects to /console/. Mount it at the prefix "/console".
Handler console_handler();

// Writes the roster into the responders table: every member upserted by name (team, role,
// can_export, phone pseudonym, phone encrypted with associated data "responders.phone_enc:<id>"),
// everyone else marked inactive (their tokens stop working). Tokens already issued are kept.
void sync_roster(store::Tx& tx, const Roster& roster, const common::Pseudonymizer& pseudonymizer,
                 const common::FieldCipher& cipher, std::int64_t now);

// The operator's commands on caseworkers' access. Each syncs the roster ([responders] file of the
// config) first. 0 = done, 1 = no such active member, 2 = bad arguments, config, roster or
// database.
// `rabta responders token NAME [--days N]`: issues a fresh random API token, "<id>.<64 hex>",
// valid for N days (default 90, at most 365), and prints it once; only its SHA-256 is stored and
// it replaces any earlier token. Audited as responder.token_issued.
int responders_token(const std::string& config_path, const std::string& name, int days,
                     std::ostream& out, std::ostream& err);
// `rabta responders revoke NAME`: her token stops working now (responder.token_revoked).
int responders_revoke(const std::string& config_path, const std::string& name, std::ostream& out,
                      std::ostream& err);
// `rabta responders tokens`: every member with her token's state (valid, expired, removed,
// none), when it was issued and until when it is valid; never a secret or a hash.
int responders_tokens(const std::string& config_path, std::ostream& out, std::ostream& err);
// `rabta responders pin NAME`: sets her SMS PIN (4 to 8 digits, read from `in`), or clears it.
int responders_pin(const std::string& config_path, const std::string& name, bool clear,
                   std::istream& in, std::ostream& out, std::ostream& err);

// `rabta audit verify [--head ROW:MAC]`: walks the MAC chain (SECURITY #11). 0 "audit chain ok:
// N rows"; 1 names the first broken row, or a kept head that is gone or changed; 2 = bad config,
// keys or database.
int audit_verify(const std::string& config_path, const std::string& head, std::ostream& out,
                 std::ostream& err);
// `rabta audit head`: prints "ROW:MAC" of the last row, for the operator to keep elsewhere.
int audit_head(const std::string& config_path, std::ostream& out, std::ostream& err);

}  // namespace rabta::gateway
