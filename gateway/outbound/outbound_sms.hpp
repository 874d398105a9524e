// The outbox row format of an outbound SMS, written by whoever queues a message (replies,
// check-in prompts, opt-out confirmations) and read by the dispatcher.
//
// kind = "sms:<channel>"; payload = JSON
//   {"to_enc": base64(cipher.encrypt(to, "outbox.to:<dedupe_key>")), "text", "ucs2",
//    "solicited", "purpose"}
// The number is encrypted with the row's dedupe key as associated data, so a payload copied to
// another row does not decrypt. encoding/segments are measured from the text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/common/cipher.hpp"
#include "adapters/store/records.hpp"

namespace rabta::gateway {

struct SmsPayload {
  std::string to;    // E.164, decrypted
  std::string text;  // UTF-8
  bool ucs2 = false;
  bool solicited = false;  // a reply to her own message: window rules do not apply
  std::string purpose;     // "checkin_prompt", "checkin_reminder", "reply", "opt_out", "opt_in"
};

inline constexpr std::string_view sms_kind_prefix = "sms:";

// "sms:" + channel.
std::string sms_kind(std::string_view channel);
// The number and the text are sealed, bound to the row by store::outbox_to_associated_data and
// store::outbox_text_associated_data.

// A pending row: created_at = now, not_before = not_before_ms, expires_at = now + ttl (ttl 0 =
// never). The text is sent as UCS-2 when p.ucs2 is set or when it does not fit GSM-7.
store::OutboxRecord make_sms_outbox(const std::string& channel, const std::string& dedupe_key,
                                    const std::string& cause, std::int64_t contact_id,
                                    const SmsPayload& p, std::int64_t now_ms,
                                    std::int64_t not_before_ms, std::int64_t ttl_ms,
                                    const common::FieldCipher& cipher);

// The payload of a row, or nullopt when it is malformed or the number does not decrypt with
// this row's dedupe key.
std::optional<SmsPayload> read_sms_payload(const store::OutboxRecord& row,
                                           const common::FieldCipher& cipher);

}  // namespace rabta::gateway
