#include "gateway/checkins/rekey.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rabta::gateway {

namespace {
constexpr const char* kRekeyedMeta = "contacts_rekeyed_v1";
}  // namespace

RekeyResult rekey_contacts(store::Store& store, const common::Pseudonymizer& pseudonymizer,
                           const common::FieldCipher& cipher, std::int64_t now_ms) {
  RekeyResult result;
  // #13: once a pass has re-keyed every contact, every contact written since is keyed by its
  // E.164 form already; the pass read every contact at each start (minutes before listening, at
  // 10M contacts). Its marker names the number plan it normalised with.
  const std::string marker =
      "numbers canonical under +" + common::default_number_plan().country_code;
  std::string done;
  store.read([&](store::Tx& tx) { done = tx.meta(kRekeyedMeta); });
  if (done == marker) return result;
  std::int64_t after = 0;
  for (;;) {
    std::vector<store::ContactRecord> page;
    store.read([&](store::Tx& tx) { page = tx.list_contacts(after, 500); });
    if (page.empty()) break;
    after = page.back().id;
    const auto r = store.run([&](store::Tx& tx) {
      for (const auto& listed : page) {
        const auto c = tx.find_contact_by_id(listed.id);  // may have been merged meanwhile
        if (!c || c->phone_enc.empty()) continue;
        const auto phone = cipher.decrypt(
            c->phone_enc, common::FieldCipher::associated_data("contacts", "phone_enc", c->id));
        if (!phone) continue;
        const std::string e164 = common::normalise_msisdn(*phone);
        if (e164.empty()) continue;
        const std::string canonical = pseudonymizer.pseudonym(e164);
        // The spellings an earlier rabta keyed as given: without '+', and the national
        // significant number alone.
        const std::string digits = e164.substr(1);
        const std::string& cc = common::default_number_plan().country_code;
        std::vector<std::string> aliases = {canonical, pseudonymizer.keyed(digits)};
        if (digits.starts_with(cc))
          aliases.push_back(pseudonymizer.keyed(digits.substr(cc.size())));
        // The contact kept is the enrolled one (her weekly check-in, window, consents to SMS),
        // whichever spelling it was stored under; the others are folded into it.
        store::ContactRecord keep = *c;
        for (const auto& alias : aliases) {
          const auto other = tx.find_contact(alias);
          if (!other || other->id == keep.id) continue;
          if (other->checkin_weekday > 0 && keep.checkin_weekday == 0) {
            tx.merge_contact_into(other->id, keep.id, now_ms);
            keep = *tx.find_contact_by_id(other->id);
          } else {
            tx.merge_contact_into(keep.id, other->id, now_ms);
          }
          ++result.merged;
        }
        bool changed = false;
        if (keep.pseudonym != canonical) {
          tx.set_contact_pseudonym(keep.id, canonical, now_ms);
          changed = true;
        }
        // Her number is kept in its E.164 form, bound to the row that keeps it.
        const auto kept_phone =
            keep.phone_enc.empty()
                ? std::nullopt
                : cipher.decrypt(keep.phone_enc, common::FieldCipher::associated_data(
                                                     "contacts", "phone_enc", keep.id));
        if (kept_phone != e164) {
          tx.set_contact_phone(keep.id,
                               cipher.encrypt(e164, common::FieldCipher::associated_data(
                                                        "contacts", "phone_enc", keep.id)),
                               now_ms);
          changed = true;
        }
        if (changed) ++result.rekeyed;
      }
    });
    if (!r.ok) throw std::runtime_error("re-keying contacts failed: " + r.error);
  }
  const auto r = store.run([&](store::Tx& tx) { tx.set_meta(kRekeyedMeta, marker); });
  if (!r.ok) throw std::runtime_error("re-keying contacts could not be recorded: " + r.error);
  return result;
}

}  // namespace rabta::gateway
