#include "gateway/outbound/outbound_sms.hpp"

#include <sodium.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "adapters/common/crypto.hpp"
#include "flows/text.hpp"

namespace rabta::gateway {

std::string sms_kind(std::string_view channel) {
  return std::string(sms_kind_prefix) + std::string(channel);
}

store::OutboxRecord make_sms_outbox(const std::string& channel, const std::string& dedupe_key,
                                    const std::string& cause, std::int64_t contact_id,
                                    const SmsPayload& p, std::int64_t now_ms,
                                    std::int64_t not_before_ms, std::int64_t ttl_ms,
                                    const common::FieldCipher& cipher) {
  flows::TextLength length = flows::measure(p.text);
  if (p.ucs2 && length.encoding != flows::Encoding::ucs2) {
    // Forced UCS-2 for a GSM-7 text: count UTF-16 units instead of septets.
    std::size_t units = 0;
    for (const char32_t c : flows::utf8_decode(p.text)) units += c > 0xFFFF ? 2 : 1;
    length = {flows::Encoding::ucs2, units};
  }
  const bool ucs2 = length.encoding == flows::Encoding::ucs2;

  nlohmann::json payload = {
      {"to_enc",
       common::base64_encode(cipher.encrypt(p.to, store::outbox_to_associated_data(dedupe_key)))},
      // The text is sealed too (SECURITY #11): on SMS channels it is the screen she saw.
      {"text_enc", common::base64_encode(
                       cipher.encrypt(p.text, store::outbox_text_associated_data(dedupe_key)))},
      {"ucs2", ucs2},
      {"solicited", p.solicited},
      {"purpose", p.purpose}};

  store::OutboxRecord row;
  row.kind = sms_kind(channel);
  row.dedupe_key = dedupe_key;
  row.payload = payload.dump();
  row.cause = cause;
  row.status = store::outbox_status::pending;
  row.created_at = now_ms;
  row.not_before = not_before_ms;
  row.expires_at = ttl_ms > 0 ? now_ms + ttl_ms : 0;
  row.contact_id = contact_id;
  row.channel = channel;
  row.encoding = ucs2 ? "ucs2" : "gsm7";
  row.segments = static_cast<int>(flows::sms_segments(length));
  return row;
}

std::optional<SmsPayload> read_sms_payload(const store::OutboxRecord& row,
                                           const common::FieldCipher& cipher) {
  const auto j = nlohmann::json::parse(row.payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  const auto field = [&j](const char* name) -> const nlohmann::json* {
    const auto it = j.find(name);
    return it == j.end() ? nullptr : &*it;
  };
  const auto* to_enc = field("to_enc");
  const auto* text = field("text");  // rows queued before texts were sealed
  const auto* text_enc = field("text_enc");
  const auto* ucs2 = field("ucs2");
  const auto* solicited = field("solicited");
  const auto* purpose = field("purpose");
  const bool has_text = (text && text->is_string()) || (text_enc && text_enc->is_string());
  if (!to_enc || !to_enc->is_string() || !has_text || !ucs2 || !ucs2->is_boolean() || !solicited ||
      !solicited->is_boolean() || !purpose || !purpose->is_string())
    return std::nullopt;

  const auto blob = common::base64_decode(to_enc->get<std::string>());
  if (!blob) return std::nullopt;
  auto to = cipher.decrypt(*blob, store::outbox_to_associated_data(row.dedupe_key));
  if (!to || to->empty()) return std::nullopt;

  SmsPayload p;
  p.to = std::move(*to);
  if (text_enc && text_enc->is_string()) {
    const auto sealed = common::base64_decode(text_enc->get<std::string>());
    if (!sealed) return std::nullopt;
    auto opened = cipher.decrypt(*sealed, store::outbox_text_associated_data(row.dedupe_key));
    if (!opened) return std::nullopt;
    p.text = std::move(*opened);
  } else {
    p.text = text->get<std::string>();
  }
  p.ucs2 = ucs2->get<bool>();
  p.solicited = solicited->get<bool>();
  p.purpose = purpose->get<std::string>();
  return p;
}

}  // namespace rabta::gateway
