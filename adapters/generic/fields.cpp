#include "adapters/generic/fields.hpp"

#include <nlohmann/json.hpp>

#include "adapters/sms/support.hpp"

namespace rabta::adapters::generic {

namespace support = sms::support;
using sms::Rejection;

Source parse_source(const std::string& key, std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon + 1 >= spec.size())
    throw SettingError(
        key, "must be \"form:NAME\", \"query:NAME\", \"json:/POINTER\" or \"header:NAME\"");
  const std::string_view where = spec.substr(0, colon);
  std::string name(spec.substr(colon + 1));
  Source s;
  if (where == "form") {
    s.where = Source::Where::form;
  } else if (where == "query") {
    s.where = Source::Where::query;
  } else if (where == "header") {
    s.where = Source::Where::header;
    s.label = name;
    name = support::lower_ascii(name);
  } else if (where == "json") {
    s.where = Source::Where::json;
    if (name[0] != '/') name = "/" + name;
    try {
      (void)nlohmann::json::json_pointer(name);
    } catch (const nlohmann::json::exception&) {
      throw SettingError(key, "'" + name + "' is not a JSON pointer");
    }
    s.label = name.substr(1);
  } else {
    throw SettingError(
        key, "unknown source '" + std::string(where) + "' (use form, query, json or header)");
  }
  s.name = std::move(name);
  if (s.label.empty()) s.label = s.name;
  return s;
}

Fields::Fields() = default;
Fields::Fields(Fields&&) noexcept = default;
Fields& Fields::operator=(Fields&&) noexcept = default;
Fields::~Fields() = default;

std::variant<Fields, Rejection> Fields::parse(const sms::InboundHttp& request, Body body,
                                              const std::set<std::string>& known) {
  Fields f;
  f.request_ = &request;
  if (auto q = support::parse_fields(request.query))
    f.query_ = std::move(*q);
  else
    f.query_ok_ = false;
  const std::string media = support::media_type(request.header("content-type"));
  if (body == Body::form) {
    if (media != "application/x-www-form-urlencoded")
      return Rejection{415, "expected Content-Type application/x-www-form-urlencoded"};
    auto parsed = common::parse_form(request.body);
    if (auto* err = std::get_if<common::FormParseError>(&parsed))
      return Rejection{400, err->reason};
    f.form_ = std::get<std::vector<common::FormField>>(std::move(parsed));
    for (const auto& field : f.form_)
      if (!common::is_valid_utf8(field.value) || !common::is_valid_utf8(field.name))
        return Rejection{400, known.count(field.name)
                                  ? "field '" + field.name + "' is not valid UTF-8"
                                  : std::string("a field of the body is not "
                                                "valid UTF-8")};
  } else if (body == Body::json) {
    if (media != "application/json" && media != "text/json")
      return Rejection{415, "expected Content-Type application/json"};
    // nlohmann refuses strings that are not UTF-8 while it parses.
    auto parsed = nlohmann::json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) return Rejection{400, "the body is not valid JSON (UTF-8)"};
    if (!parsed.is_object()) return Rejection{400, "the body is not a JSON object"};
    f.json_ = std::make_unique<nlohmann::json>(std::move(parsed));
  }
  return f;
}

std::variant<std::optional<std::string>, Rejection> Fields::get(const Source& source) const {
  const std::string* found = nullptr;
  switch (source.where) {
    case Source::Where::form:
      found = common::find_field(form_, source.name);
      break;
    case Source::Where::query:
      if (!query_ok_) return Rejection{400, "the query string is malformed"};
      found = common::find_field(query_, source.name);
      if (found && !common::is_valid_utf8(*found))
        return Rejection{400, "field '" + source.label + "' is not valid UTF-8"};
      break;
    case Source::Where::header: {
      for (const auto& [n, v] : request_->headers)
        if (n == source.name) {
          if (!common::is_valid_utf8(v))
            return Rejection{400, "header '" + source.label + "' is not valid UTF-8"};
          return std::optional<std::string>(v);
        }
      return std::optional<std::string>();
    }
    case Source::Where::json: {
      if (!json_) return std::optional<std::string>();
      const nlohmann::json::json_pointer pointer(source.name);
      if (!json_->contains(pointer)) return std::optional<std::string>();
      const auto& v = json_->at(pointer);
      if (v.is_null()) return std::optional<std::string>();
      if (v.is_string()) return std::optional<std::string>(v.get<std::string>());
      if (v.is_number_integer() || v.is_number_unsigned() || v.is_boolean())
        return std::optional<std::string>(v.dump());
      return Rejection{400, "field '" + source.label + "' must be a string or a whole number"};
    }
  }
  if (!found) return std::optional<std::string>();
  return std::optional<std::string>(*found);
}

Template Template::compile(const std::string& key, std::string_view text,
                           const std::set<std::string>& allowed, Escape escape) {
  Template t;
  t.escape_ = escape;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto open = text.find("{{", at);
    if (open == std::string_view::npos) {
      t.parts_.push_back({false, std::string(text.substr(at))});
      break;
    }
    if (open > at) t.parts_.push_back({false, std::string(text.substr(at, open - at))});
    const auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos) throw SettingError(key, "a '{{' is not closed by '}}'");
    std::string name(text.substr(open + 2, close - open - 2));
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    if (name.empty()) throw SettingError(key, "an empty '{{}}'");
    if (!allowed.count(name)) {
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      throw SettingError(key, "unknown variable '{{" + name + "}}' (here: " + names + ")");
    }
    t.parts_.push_back({true, std::move(name)});
    at = close + 2;
  }
  return t;
}

namespace {

void append_json(std::string& out, std::string_view s) {
  // The string's content without its quotes.
  const std::string quoted = nlohmann::json(std::string(s)).dump();
  out.append(quoted, 1, quoted.size() - 2);
}

}  // namespace

std::string Template::render(const std::map<std::string, std::string>& vars) const {
  std::string out;
  for (const auto& p : parts_) {
    if (!p.variable) {
      out += p.text;
      continue;
    }
    const auto it = vars.find(p.text);
    const std::string_view v = it == vars.end() ? std::string_view() : std::string_view(it->second);
    switch (escape_) {
      case Escape::none:
        out += v;
        break;
      case Escape::json:
        append_json(out, v);
        break;
      case Escape::xml:
        out += common::xml_escape(v);
        break;
      case Escape::url:
        out += common::percent_encode(v);
        break;
    }
  }
  return out;
}

namespace {

std::optional<std::string> unescape(std::string_view v, Template::Escape escape) {
  switch (escape) {
    case Template::Escape::none:
      return std::string(v);
    case Template::Escape::json: {
      const auto j = nlohmann::json::parse("\"" + std::string(v) + "\"", nullptr, false);
      if (j.is_discarded() || !j.is_string()) return std::nullopt;
      return j.get<std::string>();
    }
    case Template::Escape::url:
      return common::percent_decode(v, /*plus_as_space=*/true);
    case Template::Escape::xml: {
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] != '&') {
          out += v[i];
          continue;
        }
        const auto semi = v.find(';', i);
        if (semi == std::string_view::npos) return std::nullopt;
        const std::string_view entity = v.substr(i + 1, semi - i - 1);
        if (entity == "amp")
          out += '&';
        else if (entity == "lt")
          out += '<';
        else if (entity == "gt")
          out += '>';
        else if (entity == "quot")
          out += '"';
        else if (entity == "apos")
          out += '\'';
        else
          return std::nullopt;
        i = semi;
      }
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace

namespace {

// Where the literal text after a variable begins. In JSON an escaped quote (\") inside the value
// is not the quote that ends it; without escaping, the template's last literal is taken at its
// last occurrence, so that the value may contain the literal itself.
std::size_t literal_after(std::string_view text, std::string_view literal, std::size_t from,
                          Template::Escape escape, bool last) {
  if (escape == Template::Escape::none && last) {
    if (text.size() < literal.size()) return std::string_view::npos;
    const std::size_t at = text.size() - literal.size();
    return at >= from && text.substr(at) == literal ? at : std::string_view::npos;
  }
  for (std::size_t at = text.find(literal, from); at != std::string_view::npos;
       at = text.find(literal, at + 1)) {
    if (escape != Template::Escape::json) return at;
    std::size_t backslashes = 0;
    while (at - backslashes > from && text[at - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::map<std::string, std::string>> Template::match(std::string_view text) const {
  std::map<std::string, std::string> vars;
  std::size_t at = 0;
  for (std::size_t i = 0; i < parts_.size(); ++i) {
    const Part& p = parts_[i];
    if (!p.variable) {
      if (text.compare(at, p.text.size(), p.text) != 0) return std::nullopt;
      at += p.text.size();
      continue;
    }
    std::size_t end = text.size();
    if (i + 1 < parts_.size()) {
      if (parts_[i + 1].variable) return std::nullopt;  // two variables side by side: ambiguous
      end = literal_after(text, parts_[i + 1].text, at, escape_, i + 2 == parts_.size());
      if (end == std::string_view::npos) return std::nullopt;
    }
    auto value = unescape(text.substr(at, end - at), escape_);
    if (!value) return std::nullopt;
    if (const auto seen = vars.find(p.text); seen != vars.end() && seen->second != *value)
      return std::nullopt;
    vars[p.text] = std::move(*value);
    at = end;
  }
  if (at != text.size()) return std::nullopt;
  return vars;
}

std::size_t Template::literal_size() const {
  std::size_t n = 0;
  for (const auto& p : parts_) n += p.variable ? 0 : p.text.size();
  return n;
}

bool Template::uses(std::string_view name) const {
  return count(name) > 0;
}

int Template::count(std::string_view name) const {
  int n = 0;
  for (const auto& p : parts_) n += p.variable && p.text == name;
  return n;
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    auto comma = list.find(',', at);
    if (comma == std::string_view::npos) comma = list.size();
    std::string item(list.substr(at, comma - at));
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(std::move(item));
    at = comma + 1;
  }
  return out;
}

std::string utf16be(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    int extra = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1F;
      extra = 1;
    } else if ((c >> 4) == 0xE) {
      cp = c & 0x0F;
      extra = 2;
    } else {
      cp = c & 0x07;
      extra = 3;
    }
    for (int k = 1; k <= extra && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += 1 + extra;
    auto unit = [&](std::uint32_t u) {
      out += static_cast<char>((u >> 8) & 0xFF);
      out += static_cast<char>(u & 0xFF);
    };
    if (cp >= 0x10000) {
      cp -= 0x10000;
      unit(0xD800 + (cp >> 10));
      unit(0xDC00 + (cp & 0x3FF));
    } else {
      unit(cp);
    }
  }
  return out;
}

std::optional<std::string> from_utf16be(std::string_view b) {
  if (b.size() % 2 != 0) return std::nullopt;
  std::string out;
  auto put = [&out](std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  };
  const auto unit = [&b](std::size_t i) {
    return static_cast<std::uint32_t>((static_cast<unsigned char>(b[i]) << 8) |
                                      static_cast<unsigned char>(b[i + 1]));
  };
  for (std::size_t i = 0; i < b.size(); i += 2) {
    std::uint32_t u = unit(i);
    if (u >= 0xD800 && u <= 0xDBFF) {
      if (i + 3 >= b.size()) return std::nullopt;
      const std::uint32_t lo = unit(i + 2);
      if (lo < 0xDC00 || lo > 0xDFFF) return std::nullopt;
      u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
      i += 2;
    } else if (u >= 0xDC00 && u <= 0xDFFF) {
      return std::nullopt;
    }
    put(u);
  }
  return out;
}

}  // namespace rabta::adapters::generic
