// The configurable USSD adapter (adapters/generic/ussd.hpp) on what no shipped preset uses:
// HTTP Basic and HMAC authentication, a header that says continue or end, XML replies, UTF-16BE,
// a form body read with header and query sources, and the refusals of settings that cannot work.
#include <gtest/gtest.h>

#include <string>

#include "adapters/common/crypto.hpp"
#include "adapters/generic/emulator.hpp"
#include "adapters/generic/ussd.hpp"

namespace rabta {
namespace {

using adapters::generic::HttpUssd;
using adapters::generic::SettingError;
using adapters::ussd::Hop;
using adapters::ussd::Inbound;
using adapters::ussd::InboundHttp;
using adapters::ussd::Rejection;
using adapters::ussd::SessionEnd;

constexpr const char* kSecret = "0123456789abcdef-secret";

// A Freeflow-style gateway: form POST, the session in a header, continue/end in a header.
adapters::sms::Settings freeflow() {
  return {{"path", "/ussd/ff"},
          {"request.session_id", "form:session"},
          {"request.phone", "form:msisdn"},
          {"request.input", "form:input"},
          {"request.service_code", "form:code"},
          {"auth.mode", "hmac"},
          {"auth.hmac_header", "X-Signature"},
          {"auth.hmac_secret", kSecret},
          {"auth.hmac_prefix", "sha256="},
          {"reply.format", "xml"},
          {"reply.continue", "<ussd><msg>{{text}}</msg></ussd>"},
          {"reply.end", "<ussd><msg>{{text}}</msg></ussd>"},
          {"reply.continue_header", "Freeflow: FC"},
          {"reply.end_header", "Freeflow: FB"}};
}

InboundHttp signed_post(const std::string& body, const std::string& signature) {
  InboundHttp r;
  r.method = "POST";
  r.path = "/ussd/ff";
  r.headers = {{"content-type", "application/x-www-form-urlencoded"}, {"x-signature", signature}};
  r.body = body;
  return r;
}

TEST(GenericUssd, AnHmacSignatureOverTheBodyIsCheckedBeforeAnythingIsRead) {
  const HttpUssd a("ff", freeflow());
  const std::string body = "session=ff-1&code=%2A786%23&msisdn=%2B923001234567&input=1*2";
  const auto ok = a.decode(signed_post(body, "sha256=" + common::hmac_sha256_hex(kSecret, body)));
  ASSERT_TRUE(std::holds_alternative<Inbound>(ok)) << std::get<Rejection>(ok).reason;
  const auto& hop = std::get<Hop>(std::get<Inbound>(ok));
  EXPECT_EQ(hop.session_id, "ff-1");
  EXPECT_EQ(hop.service_code, "*786#");
  EXPECT_EQ(hop.text, "1*2");
  for (const std::string& bad :
       {std::string(""), "sha256=" + common::hmac_sha256_hex("another-secret-0000", body),
        common::hmac_sha256_hex(kSecret, body),
        "sha256=" + common::hmac_sha256_hex(kSecret, body + "&x=1")}) {
    const auto r = a.decode(signed_post("%zz" + body, bad));
    ASSERT_TRUE(std::holds_alternative<Rejection>(r)) << bad;
    EXPECT_EQ(std::get<Rejection>(r).status, 403);
    EXPECT_EQ(std::get<Rejection>(r).reason, "missing or wrong signature");
  }
}

TEST(GenericUssd, ContinueOrEndCanBeAHeaderAndTheScreenIsEscapedForXml) {
  const HttpUssd a("ff", freeflow());
  const auto more = a.encode_reply({"ff-1", "*786#"}, false, "1. <Yes> & \"no\"");
  EXPECT_EQ(more.body, "<ussd><msg>1. &lt;Yes&gt; &amp; &quot;no&quot;</msg></ussd>");
  EXPECT_EQ(more.content_type, "application/xml; charset=utf-8");
  ASSERT_EQ(more.headers.size(), 1u);
  EXPECT_EQ(more.headers[0], (std::pair<std::string, std::string>{"Freeflow", "FC"}));
  const auto last = a.encode_reply({"ff-1", "*786#"}, true, "شکریہ");
  EXPECT_EQ(last.headers[0].second, "FB");
  EXPECT_EQ(last.body, "<ussd><msg>شکریہ</msg></ussd>");
}

TEST(GenericUssd, BasicAuthenticationAndAUtf16Reply) {
  auto s = freeflow();
  s.erase("auth.hmac_header");
  s.erase("auth.hmac_secret");
  s.erase("auth.hmac_prefix");
  s["auth.mode"] = "basic";
  s["auth.user"] = "gw";
  s["auth.password"] = kSecret;
  s["reply.format"] = "text";
  s["reply.charset"] = "utf-16be";
  s["reply.continue"] = "{{text}}";
  s["reply.end"] = "{{text}}";
  const HttpUssd a("ff", s);
  auto req = signed_post("session=ff-1&code=%2A786%23&msisdn=%2B923001234567&input=", "");
  req.headers.emplace_back("authorization",
                           "Basic " + common::base64_encode(std::string("gw:") + kSecret));
  EXPECT_TRUE(std::holds_alternative<Inbound>(a.decode(req)));
  req.headers.back().second = "Basic " + common::base64_encode("gw:wrong");
  EXPECT_EQ(std::get<Rejection>(a.decode(req)).reason, "missing or wrong credentials");
  req.headers.back().second = "Bearer " + std::string(kSecret);
  EXPECT_EQ(std::get<Rejection>(a.decode(req)).status, 403);

  const auto r = a.encode_reply({}, false, "A\xd8\xb4");  // "A" and ARABIC LETTER SHEEN
  EXPECT_EQ(r.body, std::string("\x00\x41\x06\x34", 4));
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-16be");
}

TEST(GenericUssd, SettingsThatCannotWorkAreRefusedByName) {
  const auto refused = [](adapters::sms::Settings s, const std::string& key,
                          const std::string& part) {
    try {
      HttpUssd("x", s);
      ADD_FAILURE() << "accepted without " << key;
    } catch (const SettingError& e) {
      EXPECT_EQ(e.key, key) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      // A secret's value is never in the message.
      EXPECT_EQ(std::string(e.what()).find(kSecret), std::string::npos) << e.what();
    }
  };
  auto s = freeflow();
  s.erase("request.phone");
  refused(s, "request.phone", "is missing");
  s = freeflow();
  s["request.input"] = "json:/input";
  refused(s, "request.input", "reads the body, but request.body is \"form\"");
  s = freeflow();
  s["auth.hmac_secret"] = "short";
  refused(s, "auth.hmac_secret", "shorter than 16 characters");
  s = freeflow();
  s["reply.end"] = "<ussd/>";
  refused(s, "reply.end", "must place the screen");
  s = freeflow();
  s["reply.continue_header"] = "Freeflow FC";
  refused(s, "reply.continue_header", "Header-Name: value");
  s = freeflow();
  s["request.sequence"] = "form:seq";
  refused(s, "request.sequence", "only for request.input_mode = \"latest\"");
  s = freeflow();
  s["reply.continue"] = "{{text";
  refused(s, "reply.continue", "not closed");
  // An HMAC signs the body only: a field read from a header or the query could be changed
  // under a valid signature.
  s = freeflow();
  s["request.session_id"] = "header:X-Session";
  refused(s, "request.session_id", "not in the body");
  s = freeflow();
  s["request.method"] = "GET";
  s["request.body"] = "none";
  s["request.session_id"] = "query:session";
  s["request.phone"] = "query:msisdn";
  s["request.input"] = "query:input";
  s["request.service_code"] = "query:code";
  refused(s, "auth.mode", "signs the body");
}

TEST(GenericUssd, ASequenceCountedFromZeroIsMadeOneBased) {
  adapters::sms::Settings s = {{"path", "/ussd/z"},
                               {"request.body", "json"},
                               {"request.session_id", "json:/s"},
                               {"request.phone", "json:/p"},
                               {"request.input", "json:/m"},
                               {"request.input_mode", "latest"},
                               {"request.sequence", "json:/n"},
                               {"request.sequence_first", "0"},
                               {"auth.mode", "key"},
                               {"auth.key_header", "X-Key"},
                               {"auth.key", kSecret},
                               {"reply.format", "json"},
                               {"reply.continue", "{\"m\":\"{{text}}\",\"end\":false}"},
                               {"reply.end", "{\"m\":\"{{text}}\",\"end\":true}"}};
  const HttpUssd a("z", s);
  InboundHttp r;
  r.method = "POST";
  r.path = "/ussd/z";
  r.headers = {{"content-type", "application/json"}, {"x-key", kSecret}};
  r.body = R"({"s":"z1","p":"03001234567","m":"2","n":0})";
  const auto got = a.decode(r);
  ASSERT_TRUE(std::holds_alternative<Inbound>(got)) << std::get<Rejection>(got).reason;
  const auto& hop = std::get<Hop>(std::get<Inbound>(got));
  EXPECT_EQ(hop.sequence, 1);
  EXPECT_FALSE(hop.text_is_path);
  EXPECT_EQ(hop.text, "2") << "without an operation field, the first hop's input is kept";
  r.body = R"({"s":"z1","p":"03001234567","m":"2","n":-1})";
  EXPECT_EQ(std::get<Rejection>(a.decode(r)).status, 400);
}

}  // namespace
}  // namespace rabta

namespace rabta {
namespace {

TEST(GatewayEmulatorTest, ReadsAContinueOrEndHeaderWhenOnlyOneIsSent) {
  // A gateway that marks only the screens that continue ("Freeflow: FC"); no header = the end.
  auto s = freeflow();
  s.erase("reply.end_header");
  const HttpUssd a("ff", s);
  const adapters::generic::GatewayEmulator e(a);
  const auto more = a.encode_reply({"ff-1", ""}, false, "1. Yes");
  const auto last = a.encode_reply({"ff-1", ""}, true, "Bye");
  const auto m = e.read_reply(200, more.headers, more.body);
  const auto l = e.read_reply(200, last.headers, last.body);
  ASSERT_TRUE(m && l);
  EXPECT_FALSE(m->end);
  EXPECT_EQ(m->text, "1. Yes");
  EXPECT_TRUE(l->end);
  EXPECT_EQ(l->text, "Bye");
}

TEST(GatewayEmulatorTest, HangsUpByTheEventsUrlWhenTheOperationHasNoEndValue) {
  adapters::sms::Settings s = {{"path", "/ussd/o"},
                               {"request.session_id", "form:s"},
                               {"request.phone", "form:p"},
                               {"request.input", "form:t"},
                               {"request.operation", "form:op"},
                               {"request.begin", "new"},
                               {"request.continue", "more"},
                               {"events.path", "events"},
                               {"events.session_id", "form:s"},
                               {"events.status", "form:st"},
                               {"events.status_values", "gone"},
                               {"auth.mode", "key"},
                               {"auth.key_query", "key"},
                               {"auth.key", kSecret},
                               {"reply.continue", "CON {{text}}"},
                               {"reply.end", "END {{text}}"}};
  const HttpUssd a("o", s);
  const adapters::generic::GatewayEmulator e(a);
  adapters::generic::EmulatedSession session{"o-1", "+923001234567", "*786#", "", 0, {}};
  e.dial(session);
  const auto bye = e.hang_up(session);
  ASSERT_TRUE(bye.has_value());
  EXPECT_EQ(bye->path_and_query.rfind("/ussd/o/events?", 0), 0u) << bye->path_and_query;
  InboundHttp r;
  r.method = bye->method;
  r.path = "/ussd/o/events";
  r.query = bye->path_and_query.substr(bye->path_and_query.find('?') + 1);
  for (const auto& [n, v] : bye->headers)
    r.headers.emplace_back(n == "Content-Type" ? "content-type" : n, v);
  r.body = bye->body;
  const auto decoded = a.decode(r);
  ASSERT_TRUE(std::holds_alternative<Inbound>(decoded)) << std::get<Rejection>(decoded).reason;
  EXPECT_TRUE(std::holds_alternative<SessionEnd>(std::get<Inbound>(decoded)));
}

}  // namespace
}  // namespace rabta

namespace rabta {
namespace {

// Found by fuzz_generic: a screen holding `"}` rendered into a JSON reply was read back cut at
// its escaped quote, because the match took the first `"}` it saw.
TEST(TemplateMatch, AnEscapedQuoteInAJsonValueIsNotTheQuoteThatEndsIt) {
  using adapters::generic::Template;
  const auto t =
      Template::compile("reply.continue", R"({"m":"{{text}}"})", {"text"}, Template::Escape::json);
  for (const std::string& screen :
       {std::string(R"(8190b8"} and "}")"), std::string("a\\"), std::string("\\\"\","),
        std::string("مدد \"ok\" ,\"end\":true}")}) {
    const auto vars = t.match(t.render({{"text", screen}}));
    ASSERT_TRUE(vars.has_value()) << screen;
    EXPECT_EQ(vars->at("text"), screen);
  }
  // Without escaping, the last literal is taken at its end: the value may contain it.
  const auto plain =
      Template::compile("reply.end", "<<{{text}}>>", {"text"}, Template::Escape::none);
  EXPECT_EQ(plain.match("<<a>>b>>")->at("text"), "a>>b");
}

}  // namespace
}  // namespace rabta
