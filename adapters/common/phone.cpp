#include "adapters/common/phone.hpp"

#include <array>
#include <atomic>
#include <memory>

namespace rabta::common {

namespace {

const std::array<NumberPlan, 10> kPlans = {{
    {"PK", "92", "0", 10, 9},
    {"IN", "91", "0", 10, 10},
    {"BD", "880", "0", 10, 10},
    {"AF", "93", "0", 9, 9},
    {"NP", "977", "0", 10, 8},
    {"LK", "94", "0", 9, 9},
    {"KE", "254", "0", 9, 9},
    {"NG", "234", "0", 10, 10},
    {"GB", "44", "0", 10, 9},
    {"US", "1", "1", 10, 10},
}};

// Set once at start-up (before threads); read everywhere after. The plans are never freed, so a
// reader never sees a dangling pointer.
std::atomic<const NumberPlan*> g_plan{&kPlans[0]};

constexpr std::size_t kMinDigits = 8;   // anything shorter is a short code, not a number
constexpr std::size_t kMaxDigits = 15;  // E.164

// Decodes one UTF-8 code point at s[i]; returns it and advances i (0xFFFD when malformed).
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) -> unsigned {
    if (i + k >= s.size()) return 0x100;
    const auto b = static_cast<unsigned char>(s[i + k]);
    return (b & 0xC0U) == 0x80U ? (b & 0x3FU) : 0x100;
  };
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  if ((b0 & 0xE0U) == 0xC0U) {
    const unsigned c1 = cont(1);
    i += 2;
    return c1 > 0xFF ? 0xFFFD : static_cast<char32_t>(((b0 & 0x1FU) << 6) | c1);
  }
  if ((b0 & 0xF0U) == 0xE0U) {
    const unsigned c1 = cont(1), c2 = cont(2);
    i += 3;
    return c1 > 0xFF || c2 > 0xFF ? 0xFFFD
                                  : static_cast<char32_t>(((b0 & 0x0FU) << 12) | (c1 << 6) | c2);
  }
  ++i;
  return 0xFFFD;
}

}  // namespace

std::optional<NumberPlan> number_plan(std::string_view country) {
  for (const auto& p : kPlans)
    if (p.country.size() == country.size() &&
        std::equal(p.country.begin(), p.country.end(), country.begin(),
                   [](char a, char b) { return a == (b >= 'a' && b <= 'z' ? b - 32 : b); }))
      return p;
  return std::nullopt;
}

std::vector<std::string> known_number_plan_countries() {
  std::vector<std::string> out;
  for (const auto& p : kPlans) out.push_back(p.country);
  return out;
}

const NumberPlan& default_number_plan() {
  return *g_plan.load(std::memory_order_acquire);
}

void set_default_number_plan(const NumberPlan& plan) {
  for (const auto& p : kPlans)
    if (p.country == plan.country && p.country_code == plan.country_code &&
        p.trunk_prefix == plan.trunk_prefix && p.national_length == plan.national_length &&
        p.min_length() == plan.min_length()) {
      g_plan.store(&p, std::memory_order_release);
      return;
    }
  // A plan not in the table: kept for the life of the process (set once at start-up).
  static std::unique_ptr<NumberPlan> custom;
  custom = std::make_unique<NumberPlan>(plan);
  g_plan.store(custom.get(), std::memory_order_release);
}

PhoneNumber canonical_phone(std::string_view raw, const NumberPlan& plan) {
  PhoneNumber out;
  std::string_view s = raw;
  // Surrounding white space (including a no-break space) and a "tel:" URI scheme.
  auto trim = [](std::string_view v) {
    auto is_ws = [](std::string_view t, std::size_t at) -> std::size_t {
      if (at >= t.size()) return 0;
      if (t[at] == ' ' || t[at] == '\t' || t[at] == '\r' || t[at] == '\n') return 1;
      if (t.substr(at, 2) == "\xC2\xA0") return 2;
      return 0;
    };
    while (std::size_t n = is_ws(v, 0)) v.remove_prefix(n);
    while (!v.empty()) {
      if (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n') {
        v.remove_suffix(1);
      } else if (v.size() >= 2 && v.substr(v.size() - 2) == "\xC2\xA0") {
        v.remove_suffix(2);
      } else {
        break;
      }
    }
    return v;
  };
  s = trim(s);
  if (s.size() >= 4 && (s[0] == 't' || s[0] == 'T') && (s[1] == 'e' || s[1] == 'E') &&
      (s[2] == 'l' || s[2] == 'L') && s[3] == ':')
    s = trim(s.substr(4));

  std::string digits;
  bool plus = false;
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, 3) == "(0)" && plus) {  // "+92 (0)300 ...": the trunk after the code
      i += 3;
      continue;
    }
    const char32_t c = next_code_point(s, i);
    if (c >= U'0' && c <= U'9') {
      digits.push_back(static_cast<char>(c));
    } else if (c >= U'\u06F0' && c <= U'\u06F9') {
      digits.push_back(static_cast<char>('0' + (c - U'\u06F0')));
    } else if (c >= U'\u0660' && c <= U'\u0669') {
      digits.push_back(static_cast<char>('0' + (c - U'\u0660')));
    } else if (c == U' ' || c == U'-' || c == U'.' || c == U'(' || c == U')' || c == U'/' ||
               c == U'\u00A0' || c == U'\u2010' || c == U'\u2011' || c == U'\u2013') {
      continue;
    } else if ((c == U'+' || c == U'\uFF0B') && digits.empty() && !plus) {
      plus = true;
    } else {
      out.reason = c == U'+' ? "a '+' that is not at the start" : "a character that is not a digit";
      return out;
    }
  }
  if (digits.empty()) {
    out.reason = "no digits";
    return out;
  }
  const std::string& cc = plan.country_code;
  const std::string& trunk = plan.trunk_prefix;
  const std::size_t nsn = plan.national_length;
  const std::size_t nsn_min = plan.min_length();
  auto national_ok = [&](std::size_t n) { return n >= nsn_min && n <= nsn; };
  if (!plus && digits.starts_with("00")) {  // international prefix
    plus = true;
    digits.erase(0, 2);
  }
  std::string international;  // without '+'
  if (plus) {
    international = digits;
    // "+92 0300 1234567": the trunk prefix written after the country code is dropped.
    if (!trunk.empty() && international.starts_with(cc + trunk) &&
        national_ok(international.size() - cc.size() - trunk.size()))
      international.erase(cc.size(), trunk.size());
  } else if (!trunk.empty() && digits.starts_with(trunk) &&
             national_ok(digits.size() - trunk.size())) {
    international = cc + digits.substr(trunk.size());  // national: 0300 1234567
  } else if (digits.starts_with(cc) && national_ok(digits.size() - cc.size())) {
    international = digits;  // international without '+' (SMPP TON international)
  } else if (digits.size() == nsn && !digits.starts_with(cc) &&
             (trunk.empty() || !digits.starts_with(trunk))) {
    international = cc + digits;  // national significant number alone: 300 1234567
  } else if (digits.size() > nsn + (trunk.empty() ? 0 : trunk.size()) &&
             digits.size() <= kMaxDigits) {
    international = digits;  // another country's number, without '+'
  } else {
    out.reason = digits.size() < kMinDigits ? "too few digits (a short code is not a number)"
                                            : "not a number of any known form";
    return out;
  }
  if (international.size() < kMinDigits) {
    out.reason = "too few digits";
    return out;
  }
  if (international.size() > kMaxDigits) {
    out.reason = "more than 15 digits";
    return out;
  }
  if (international.starts_with(cc) && !national_ok(international.size() - cc.size())) {
    out.reason = "wrong number of digits for country code +" + cc;
    return out;
  }
  if (international[0] == '0') {
    out.reason = "no country code";
    return out;
  }
  out.e164 = "+" + international;
  return out;
}

std::string normalise_msisdn(std::string_view raw) {
  return canonical_phone(raw, default_number_plan()).e164;
}

}  // namespace rabta::common
