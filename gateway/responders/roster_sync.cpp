#include "gateway/responders/roster_sync.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <istream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string_view>
#include <utility>
#include <variant>

#include "adapters/common/form.hpp"
#include "gateway/settings/config.hpp"

namespace rabta::gateway {

void sync_roster(store::Tx& tx, const Roster& roster, const common::Pseudonymizer& pseudonymizer,
                 const common::FieldCipher& cipher, std::int64_t now) {
  std::map<std::string, store::ResponderRecord> existing;
  for (auto& r : tx.list_responders()) existing.emplace(r.name, std::move(r));
  std::vector<std::string> names;
  for (const Team& team : roster.teams) {
    for (const Member& m : team.members) {
      store::ResponderRecord r;
      bool returning = false;  // removed from the roster earlier, listed again now
      if (const auto it = existing.find(m.name); it != existing.end()) {
        r = it->second;
        returning = !r.active;
      }
      r.name = m.name;
      r.team = team.name;
      r.role = m.role;
      r.can_export = m.can_export;
      r.phone_pseudonym = m.phone.empty() ? "" : pseudonymizer.pseudonym(m.phone);
      r.active = true;
      r.updated_at = now;
      r.id = tx.upsert_responder(r);
      // A member removed and later listed again does not get her old token back. (An upsert
      // never changes a token, so it is revoked explicitly.)
      if (returning && !r.token_hash.empty()) {
        tx.set_responder_token(r.id, "", now, 0);
        tx.append_audit(now, "operator", "responder.token_revoked", "",
                        "responder=" + std::to_string(r.id) + " reason=listed_again");
        r.token_hash.clear();
      }
      // The number is bound to her row, so the row must exist before it is encrypted.
      const std::string ad = common::FieldCipher::associated_data("responders", "phone_enc", r.id);
      const bool current = !r.phone_enc.empty() && cipher.decrypt(r.phone_enc, ad) == m.phone;
      if (!current) {
        r.phone_enc = m.phone.empty() ? "" : cipher.encrypt(m.phone, ad);
        tx.upsert_responder(r);
      }
      names.push_back(m.name);
    }
  }
  tx.deactivate_responders_except(names, now);
}

}  // namespace rabta::gateway
