// The enrolment CSV parser behind `rabta contacts import`, and her local calendar time for the
// weekly check-ins. Both are pure: no store, no files.
#include "gateway/checkins/enrolment.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "flows/local_time.hpp"

namespace rabta::gateway {
namespace {

const EnrolmentRules kRules{{"ur", "roman", "en"}, {"lahore", "karachi_south", "quetta"}};

// The one rejection of a single-row file with this header, or "" if the row was accepted.
std::string reject_reason(const std::string& header, const std::string& row,
                          const EnrolmentRules& rules = kRules) {
  const EnrolmentParse p = parse_enrolment_csv(header + "\n" + row + "\n", rules);
  EXPECT_EQ(p.fatal, "");
  EXPECT_EQ(p.accepted.size() + p.rejected.size(), 1U) << row;
  return p.rejected.empty() ? std::string() : p.rejected.front().reason;
}

EnrolmentRow accept_one(const std::string& header, const std::string& row,
                        const EnrolmentRules& rules = kRules) {
  const EnrolmentParse p = parse_enrolment_csv(header + "\n" + row + "\n", rules);
  EXPECT_EQ(p.fatal, "");
  EXPECT_TRUE(p.rejected.empty()) << row << " -> "
                                  << (p.rejected.empty() ? "" : p.rejected.front().reason);
  return p.accepted.empty() ? EnrolmentRow{} : p.accepted.front();
}

const std::string kHeader = "phone,language,weekday,window,channel,sms_ok";

TEST(EnrolmentCsv, AcceptsAWellFormedFile) {
  const std::string csv =
      "\xEF\xBB\xBF"
      "Window,SMS_OK,phone,Language,district,weekday,channel,confirm_ok\r\n"
      "10-14,yes,03001234567,ur,Lahore,mon,sms,no\r\n"
      "09-17,,+92 300 765-4321,Roman Urdu,,جمعرات,ussd,\r\n"
      "0-24,ہاں,0044 20 7946 0958,english,quetta,7,SMS,1\r\n";
  const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
  ASSERT_EQ(p.fatal, "");
  EXPECT_TRUE(p.rejected.empty());
  ASSERT_EQ(p.accepted.size(), 3U);

  const EnrolmentRow& a = p.accepted[0];
  EXPECT_EQ(a.line, 2U);
  EXPECT_EQ(a.phone, "+923001234567");
  EXPECT_EQ(a.language, "ur");
  EXPECT_EQ(a.district, "lahore");
  EXPECT_EQ(a.weekday, 1);
  EXPECT_EQ(a.window_start_hour, 10);
  EXPECT_EQ(a.window_end_hour, 14);
  EXPECT_EQ(a.channel, "sms");
  EXPECT_TRUE(a.sms_ok);
  EXPECT_FALSE(a.confirm_ok);

  const EnrolmentRow& b = p.accepted[1];
  EXPECT_EQ(b.line, 3U);
  EXPECT_EQ(b.phone, "+923007654321");
  EXPECT_EQ(b.language, "roman");
  EXPECT_EQ(b.district, "");
  EXPECT_EQ(b.weekday, 4);
  EXPECT_EQ(b.window_start_hour, 9);
  EXPECT_EQ(b.window_end_hour, 17);
  EXPECT_EQ(b.channel, "ussd");
  EXPECT_FALSE(b.sms_ok);
  EXPECT_FALSE(b.confirm_ok);

  const EnrolmentRow& c = p.accepted[2];
  EXPECT_EQ(c.line, 4U);
  EXPECT_EQ(c.phone, "+442079460958");
  EXPECT_EQ(c.language, "en");
  EXPECT_EQ(c.district, "quetta");
  EXPECT_EQ(c.weekday, 7);
  EXPECT_EQ(c.window_start_hour, 0);
  EXPECT_EQ(c.window_end_hour, 24);
  EXPECT_EQ(c.channel, "sms");
  EXPECT_TRUE(c.sms_ok);
  EXPECT_TRUE(c.confirm_ok);
}

TEST(EnrolmentCsv, QuotedFieldsAndPhysicalLineNumbers) {
  const std::string csv =
      "phone,language,weekday,window,district,channel\n"
      "\n"                                                  // line 2: blank
      "\"03001234567\",\"ur\",\"1\",\"10-14\",\"\",ussd\n"  // line 3
      "03001111111,ur,2,10-14,\"Lahore\n\",ussd\n"          // lines 4-5: newline inside quotes
      "  ,  , , ,,\n"                                       // line 6: blank fields only
      "03002222222,ur,3,10-14,\"lahore\"\"x\",ussd\n"       // line 7: doubled quote
      "03003333333,ur,4,10-14,\"la,hore\",ussd\r\n"         // line 8: comma inside quotes
      "03004444444,ur,5,10-14, \"quetta\" ,ussd";           // line 9: no final newline
  const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
  ASSERT_EQ(p.fatal, "");
  ASSERT_EQ(p.accepted.size(), 3U);
  EXPECT_EQ(p.accepted[0].line, 3U);
  EXPECT_EQ(p.accepted[0].phone, "+923001234567");
  EXPECT_EQ(p.accepted[0].district, "");
  EXPECT_EQ(p.accepted[1].line, 4U);
  EXPECT_EQ(p.accepted[1].district, "lahore");
  EXPECT_EQ(p.accepted[2].line, 9U);
  EXPECT_EQ(p.accepted[2].district, "quetta");
  ASSERT_EQ(p.rejected.size(), 2U);
  EXPECT_EQ(p.rejected[0].line, 7U);
  EXPECT_EQ(p.rejected[0].reason, "district: not a configured district");
  EXPECT_EQ(p.rejected[1].line, 8U);
  EXPECT_EQ(p.rejected[1].reason, "district: not a configured district");
}

TEST(EnrolmentCsv, MalformedQuotingRejectsTheRowNamingTheColumn) {
  const std::string csv =
      "phone,language,weekday,window,channel\n"
      "03001234567,u\"r,1,10-14,ussd\n"
      "03001234568,\"ur\"x,1,10-14,ussd\n"
      "03001234569,ur,1,10-14,ussd\n"
      "03001234560,ur,1,\"10-14,ussd\n"
      "03001234561,ur,1,10-14,ussd\n";
  const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
  ASSERT_EQ(p.fatal, "");
  ASSERT_EQ(p.accepted.size(), 1U);
  EXPECT_EQ(p.accepted[0].line, 4U);
  ASSERT_EQ(p.rejected.size(), 3U);
  EXPECT_EQ(p.rejected[0].line, 2U);
  EXPECT_EQ(p.rejected[0].reason, "language: malformed quoting");
  EXPECT_EQ(p.rejected[1].line, 3U);
  EXPECT_EQ(p.rejected[1].reason, "language: malformed quoting");
  // The quote never closes: the rest of the file is that one field.
  EXPECT_EQ(p.rejected[2].line, 5U);
  EXPECT_NE(p.rejected[2].reason.find("quoted field never closed"), std::string::npos);
}

TEST(EnrolmentCsv, HeaderProblemsRefuseTheWholeFile) {
  const auto fatal = [](const std::string& csv) {
    const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
    EXPECT_TRUE(p.accepted.empty());
    EXPECT_TRUE(p.rejected.empty());
    return p.fatal;
  };
  EXPECT_EQ(fatal("phone,language,weekday,window,name\n03001234567,ur,1,10-14,x\n"),
            "unknown column 'name'");
  EXPECT_EQ(fatal("phone,language,window\n"), "missing required column 'weekday'");
  EXPECT_EQ(fatal("phone,language\n"), "missing required columns 'weekday', 'window'");
  EXPECT_EQ(fatal("phone,language,weekday,window,Phone\n"), "duplicate column 'phone'");
  EXPECT_EQ(fatal("phone,language,,weekday,window\n"), "header: column 3 has no name");
  EXPECT_EQ(fatal(""), "empty file: no header line");
  EXPECT_EQ(fatal("\xEF\xBB\xBF\r\n\n"), "empty file: no header line");
  // Header names are case-insensitive; "SMS OK" and "confirm-ok" are sms_ok and confirm_ok.
  EXPECT_EQ(fatal("PHONE, Language ,WEEKDAY,window,SMS OK,confirm-ok\n"), "");

  // A file without a header: refused without echoing her number.
  const std::string no_header = fatal("03001234567,ur,1,10-14\n");
  EXPECT_NE(no_header.find("header"), std::string::npos) << no_header;
  EXPECT_EQ(no_header.find("3001234567"), std::string::npos) << no_header;
}

TEST(EnrolmentCsv, PhoneNumbers) {
  const std::string h = "phone,language,weekday,window,channel";
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "+92-300-1234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "00923001234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "(0300) 1234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "۰۳۰۰۱۲۳۴۵۶۷,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "+12345678,ur,1,10-14,ussd").phone, "+12345678");  // 8 digits
  EXPECT_EQ(accept_one(h, "+123456789012345,ur,1,10-14,ussd").phone, "+123456789012345");  // 15

  // SAFETY W1: without '+' and without the national 0 are her number too.
  EXPECT_EQ(accept_one(h, "3001234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "923001234567,ur,1,10-14,ussd").phone, "+923001234567");
  EXPECT_EQ(accept_one(h, "tel:+92 300 1234567,ur,1,10-14,ussd").phone, "+923001234567");
  for (const char* bad : {"300123456", "+1234567", "+1234567890123456", "0300-CALL-ME",
                          "+92 300 1234567 ext 2", "3.00123E+11"}) {
    EXPECT_EQ(reject_reason(h, std::string("\"") + bad + "\",ur,1,10-14,ussd"),
              "phone: not a valid number")
        << bad;
  }
  EXPECT_EQ(reject_reason(h, ",ur,1,10-14,ussd"), "phone: missing");
}

TEST(EnrolmentCsv, SecondOccurrenceOfANumberIsADuplicate) {
  const std::string csv =
      "phone,language,weekday,window,channel\n"
      "03001234567,ur,1,10-14,ussd\n"
      "03007654321,xx,1,10-14,ussd\n"     // rejected, but its number still counts
      "+92 300 1234567,en,2,9-12,ussd\n"  // same number as line 2, other spelling
      "03007654321,ur,1,10-14,ussd\n"
      "00923001234567,ur,1,10-14,ussd\n";
  const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
  ASSERT_EQ(p.fatal, "");
  ASSERT_EQ(p.accepted.size(), 1U);
  EXPECT_EQ(p.accepted[0].line, 2U);
  ASSERT_EQ(p.rejected.size(), 4U);
  EXPECT_EQ(p.rejected[0].line, 3U);
  EXPECT_EQ(p.rejected[0].reason, "language: not one of ur, roman, en");
  EXPECT_EQ(p.rejected[1].line, 4U);
  EXPECT_EQ(p.rejected[1].reason, "phone: duplicate of line 2");
  EXPECT_EQ(p.rejected[2].line, 5U);
  EXPECT_EQ(p.rejected[2].reason, "phone: duplicate of line 3");
  EXPECT_EQ(p.rejected[3].line, 6U);
  EXPECT_EQ(p.rejected[3].reason, "phone: duplicate of line 2");
}

TEST(EnrolmentCsv, Languages) {
  const std::string h = "phone,language,weekday,window,channel";
  const auto lang = [&](const std::string& v, const EnrolmentRules& rules = kRules) {
    return accept_one(h, "03001234567," + v + ",1,10-14,ussd", rules).language;
  };
  EXPECT_EQ(lang("ur"), "ur");
  EXPECT_EQ(lang("UR"), "ur");
  EXPECT_EQ(lang("Urdu"), "ur");
  EXPECT_EQ(lang("اردو"), "ur");
  EXPECT_EQ(lang("roman"), "roman");
  EXPECT_EQ(lang("ROMAN  urdu"), "roman");
  EXPECT_EQ(lang("English"), "en");
  EXPECT_EQ(lang("en"), "en");

  EXPECT_EQ(reject_reason(h, "03001234567,fr,1,10-14,ussd"), "language: not one of ur, roman, en");
  EXPECT_EQ(reject_reason(h, "03001234567,,1,10-14,ussd"), "language: missing");
  // An alias maps only to a configured key.
  const EnrolmentRules urdu_only{{"ur"}, {}};
  EXPECT_EQ(reject_reason(h, "03001234567,english,1,10-14,ussd", urdu_only),
            "language: not one of ur");
  // No configured list: any key, aliases still applied.
  const EnrolmentRules any{};
  EXPECT_EQ(lang("urdu", any), "ur");
  EXPECT_EQ(lang("Sindhi", any), "sindhi");
}

TEST(EnrolmentCsv, Districts) {
  const std::string h = "phone,language,weekday,window,channel,district";
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,ussd,Karachi_South").district, "karachi_south");
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,ussd,").district, "");
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,ussd,Mirpur"),
            "district: not a configured district");
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,ussd,Mirpur", EnrolmentRules{}).district,
            "mirpur");
}

TEST(EnrolmentCsv, Weekdays) {
  const std::string h = "phone,language,weekday,window,channel";
  const auto day = [&](const std::string& v) {
    return accept_one(h, "03001234567,ur," + v + ",10-14,ussd").weekday;
  };
  const char* english[] = {"monday", "tuesday",  "wednesday", "thursday",
                           "friday", "saturday", "sunday"};
  const char* shorts[] = {"Mon", "TUE", "wed", "thu", "fri", "sat", "Sun"};
  const char* urdu[] = {"پیر", "منگل", "بدھ", "جمعرات", "جمعہ", "ہفتہ", "اتوار"};
  for (int d = 1; d <= 7; ++d) {
    const auto i = static_cast<std::size_t>(d - 1);
    EXPECT_EQ(day(std::to_string(d)), d);
    EXPECT_EQ(day(english[i]), d) << english[i];
    EXPECT_EQ(day(shorts[i]), d) << shorts[i];
    EXPECT_EQ(day(urdu[i]), d) << urdu[i];
  }
  EXPECT_EQ(day("MONDAY"), 1);
  EXPECT_EQ(day("سوموار"), 1);
  EXPECT_EQ(day("۳"), 3);          // Urdu digit
  EXPECT_EQ(day("جمعه"), 5);       // typed with Arabic heh (U+0647)
  EXPECT_EQ(day("\"ہفتہ \""), 6);  // quoted, trailing space

  for (const char* bad : {"0", "8", "12", "mo", "someday", "-1"}) {
    EXPECT_EQ(reject_reason(h, std::string("03001234567,ur,") + bad + ",10-14,ussd"),
              "weekday: expected 1-7 (1 = Monday) or a day name")
        << bad;
  }
  EXPECT_EQ(reject_reason(h, "03001234567,ur,,10-14,ussd"), "weekday: missing");
}

TEST(EnrolmentCsv, Windows) {
  const std::string h = "phone,language,weekday,window,channel";
  const auto window = [&](const std::string& v) {
    const EnrolmentRow r = accept_one(h, "03001234567,ur,1," + v + ",ussd");
    return std::to_string(r.window_start_hour) + "-" + std::to_string(r.window_end_hour);
  };
  EXPECT_EQ(window("10-14"), "10-14");
  EXPECT_EQ(window("9-17"), "9-17");
  EXPECT_EQ(window(" 09 - 17 "), "9-17");
  EXPECT_EQ(window("0-24"), "0-24");
  EXPECT_EQ(window("23-24"), "23-24");
  EXPECT_EQ(window("10:00-14:00"), "10-14");
  EXPECT_EQ(window("10–14"), "10-14");  // en dash
  EXPECT_EQ(window("۱۰-۱۴"), "10-14");  // Urdu digits

  for (const char* bad : {"10", "10-", "-14", "ten-two", "10:30-14", "100-140", "10_14"}) {
    EXPECT_EQ(reject_reason(h, std::string("03001234567,ur,1,") + bad + ",ussd"),
              "window: expected local hours HH-HH, e.g. 10-14")
        << bad;
  }
  for (const char* bad : {"14-10", "10-10", "0-25", "22-02"}) {
    EXPECT_EQ(reject_reason(h, std::string("03001234567,ur,1,") + bad + ",ussd"),
              "window: hours must satisfy 0 <= start < end <= 24")
        << bad;
  }
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,,ussd"), "window: missing");
}

TEST(EnrolmentCsv, ConsentAndChannel) {
  const std::string h = "phone,language,weekday,window,channel,sms_ok,confirm_ok";
  for (const char* yes : {"yes", "YES", "y", "Y", "1", "true", "True", "ہاں"}) {
    const EnrolmentRow r =
        accept_one(h, std::string("03001234567,ur,1,10-14,sms,") + yes + "," + yes);
    EXPECT_TRUE(r.sms_ok) << yes;
    EXPECT_TRUE(r.confirm_ok) << yes;
  }
  for (const char* no : {"no", "NO", "n", "0", "false", "FALSE", "نہیں", ""}) {
    const EnrolmentRow r =
        accept_one(h, std::string("03001234567,ur,1,10-14,ussd,") + no + "," + no);
    EXPECT_FALSE(r.sms_ok) << no;
    EXPECT_FALSE(r.confirm_ok) << no;
  }
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,ussd,maybe,no"), "sms_ok: expected yes or no");
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,ussd,no,ok"),
            "confirm_ok: expected yes or no");
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,whatsapp,yes,no"),
            "channel: expected sms or ussd");

  // SMS needs her consent to be texted (SAFETY S1); without a channel she is asked by USSD,
  // which she dials herself.
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,sms,no,yes"), "channel sms needs sms_ok=yes");
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,SMS,,"), "channel sms needs sms_ok=yes");
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,,,").channel, "ussd");
  EXPECT_EQ(accept_one("phone,language,weekday,window", "03001234567,ur,1,10-14").channel, "ussd");
  const EnrolmentRow r =
      accept_one("phone,language,weekday,window,sms_ok", "03001234567,ur,1,10-14,y");
  EXPECT_EQ(r.channel, "ussd");
  EXPECT_TRUE(r.sms_ok);
  EXPECT_FALSE(r.confirm_ok);
  EXPECT_EQ(
      accept_one("phone,language,weekday,window,channel", "03001234567,ur,1,10-14,USSD").channel,
      "ussd");
}

TEST(EnrolmentCsv, FieldCountMustMatchTheHeader) {
  const std::string h = "phone,language,weekday,window,channel";
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14"), "row has 4 fields, the header has 5");
  EXPECT_EQ(reject_reason(h, "03001234567,ur,1,10-14,ussd,extra"),
            "row has 6 fields, the header has 5");
  // Trailing empty fields, as spreadsheets write them, are harmless.
  EXPECT_EQ(accept_one(h, "03001234567,ur,1,10-14,ussd,,").phone, "+923001234567");
}

TEST(EnrolmentCsv, SeveralProblemsAreReportedTogetherWithoutValues) {
  const std::string csv =
      "phone,language,district,weekday,window,channel,sms_ok\n"
      "0300-SECRET,klingon,Atlantis,funday,late,pigeon,perhaps\n";
  const EnrolmentParse p = parse_enrolment_csv(csv, kRules);
  ASSERT_EQ(p.rejected.size(), 1U);
  EXPECT_EQ(p.rejected[0].reason,
            "phone: not a valid number; language: not one of ur, roman, en; district: not a "
            "configured district; weekday: expected 1-7 (1 = Monday) or a day name; window: "
            "expected local hours HH-HH, e.g. 10-14; channel: expected sms or ussd; sms_ok: "
            "expected yes or no");
  for (const char* value :
       {"SECRET", "klingon", "Atlantis", "funday", "late", "pigeon", "perhaps"}) {
    EXPECT_EQ(p.rejected[0].reason.find(value), std::string::npos) << value;
  }

  // A valid but duplicated number is not echoed either.
  const EnrolmentParse d = parse_enrolment_csv(
      "phone,language,weekday,window,channel\n03001234567,ur,1,10-14,ussd\n"
      "03001234567,ur,1,10-14,ussd\n",
      kRules);
  ASSERT_EQ(d.rejected.size(), 1U);
  EXPECT_EQ(d.rejected[0].reason.find("1234567"), std::string::npos);
}

// ---- Local time -------------------------------------------------------------------------------

const flows::Zone kKarachi = flows::require_zone("Asia/Karachi");

// Offset of local time from UTC at utc_ms, in seconds.
std::int64_t offset_at(std::int64_t utc_ms, const flows::Zone& z) {
  const flows::LocalTime l = flows::to_local(utc_ms, z);
  return (flows::local_to_utc_ms(l.year, l.month, l.day, 0, flows::require_zone("UTC")) +
          l.hour * 3600000LL + l.minute * 60000LL - utc_ms / 60000 * 60000) /
         1000;
}

TEST(LocalTimeZones, ParsesIanaNamesAndExplicitOffsets) {
  // Any IANA name from the system's zoneinfo, in any case, and its aliases.
  for (const char* name : {"Asia/Karachi", "asia/karachi", "ASIA/KARACHI", " Asia/Karachi "}) {
    const auto z = flows::parse_zone(name);
    ASSERT_TRUE(z) << name;
    EXPECT_EQ(z->name, "Asia/Karachi") << name;
    EXPECT_NE(z->tz, nullptr) << name;
    EXPECT_EQ(*z, *flows::parse_zone("Asia/Karachi")) << name;
  }
  for (const char* name : {"Asia/Kolkata", "Asia/Dhaka", "Africa/Nairobi", "Europe/London",
                           "America/New_York", "Australia/Lord_Howe", "Asia/Calcutta"}) {
    EXPECT_TRUE(flows::parse_zone(name)) << name;
  }
  EXPECT_EQ(offset_at(1795411800000, flows::require_zone("Asia/Calcutta")),
            19800);  // alias of Kolkata
  EXPECT_EQ(flows::parse_zone(" UTC "), (flows::Zone{"UTC", nullptr, 0}));
  EXPECT_EQ(flows::parse_zone("UTC+05:00"), (flows::Zone{"UTC+05:00", nullptr, 18000}));
  EXPECT_EQ(flows::parse_zone("+05:00"), (flows::Zone{"UTC+05:00", nullptr, 18000}));
  EXPECT_EQ(flows::parse_zone("utc+05:30"), (flows::Zone{"UTC+05:30", nullptr, 19800}));
  EXPECT_EQ(flows::parse_zone("-03:00"), (flows::Zone{"UTC-03:00", nullptr, -10800}));
  EXPECT_EQ(flows::parse_zone("UTC-12:00"), (flows::Zone{"UTC-12:00", nullptr, -43200}));
  EXPECT_EQ(flows::parse_zone("+14:00"), (flows::Zone{"UTC+14:00", nullptr, 50400}));
  EXPECT_EQ(flows::parse_zone("+00:00"), (flows::Zone{"UTC+00:00", nullptr, 0}));

  for (const char* bad :
       {"", "Asia/Nowhere", "Karachi", "PKT", "UTC+5", "+5:00", "+0500", "UTC+05:60", "+14:30",
        "-12:30", "UTC+", "UTC 05:00", "Asia/Karachi+1", "../../etc/passwd", "Asia/Karachi\n"}) {
    EXPECT_FALSE(flows::parse_zone(bad)) << bad;
  }
  try {
    (void)flows::require_zone("Asia/Nowhere");
    ADD_FAILURE() << "accepted Asia/Nowhere";
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown time zone 'Asia/Nowhere'"), std::string::npos) << msg;
    for (const char* form : {"IANA", "Asia/Karachi", "UTC", "UTC+HH:MM", "+HH:MM"}) {
      EXPECT_NE(msg.find(form), std::string::npos) << form << " in " << msg;
    }
  }
}

// Daylight saving time, which the fixed offsets of before could not express (Europe/London:
// clocks go forward at 01:00 UTC on 2026-03-29 and back at 01:00 UTC on 2026-10-25).
TEST(LocalTimeZones, FollowsDaylightSavingTime) {
  const flows::Zone london = flows::require_zone("Europe/London");
  // 2026-07-01 12:00 UTC is 13:00 in London (BST), 12:00 in winter.
  EXPECT_EQ(flows::to_local(1782907200000, london), (flows::LocalTime{2026, 7, 1, 3, 13, 0}));
  EXPECT_EQ(flows::to_local(1795411800000, london), (flows::LocalTime{2026, 11, 23, 1, 5, 30}));
  // Her window opens at 10:00 local: 10:00 UTC on Saturday, 09:00 UTC on Sunday after the change.
  EXPECT_EQ(flows::local_to_utc_ms(2026, 3, 28, 10, london), 1774692000000);
  EXPECT_EQ(flows::local_to_utc_ms(2026, 3, 29, 10, london), 1774774800000);
  // Missed Saturday's (10:30 UTC): the next is Sunday 10:00 BST, 22.5 hours on, not 24.
  EXPECT_EQ(flows::next_window_start(1774693800000, 10, london), 1774774800000);
  // 01:00 on 2026-03-29 never happens in London: the window starts at the jump (01:00 UTC).
  EXPECT_EQ(flows::local_to_utc_ms(2026, 3, 29, 1, london), 1774746000000);
  // 01:00 on 2026-10-25 happens twice: the first (00:00 UTC, still BST) counts.
  EXPECT_EQ(flows::local_to_utc_ms(2026, 10, 25, 1, london), 1792886400000);
  // Karachi has had no DST since 2009: the same offset all year.
  EXPECT_EQ(offset_at(1782907200000, kKarachi), 18000);
  EXPECT_EQ(offset_at(1795411800000, kKarachi), 18000);
}

TEST(LocalTime, ConvertsUtcToLocalCalendarTime) {
  // 2026-11-23 05:30 UTC is a Monday.
  EXPECT_EQ(flows::to_local(1795411800000, kKarachi), (flows::LocalTime{2026, 11, 23, 1, 10, 30}));
  EXPECT_EQ(flows::to_local(1795411800000, flows::require_zone("Asia/Dhaka")),
            (flows::LocalTime{2026, 11, 23, 1, 11, 30}));
  EXPECT_EQ(flows::to_local(1795411800000, flows::require_zone("UTC")),
            (flows::LocalTime{2026, 11, 23, 1, 5, 30}));
  // Half-hour offset across midnight: 2026-03-01 18:45 UTC is Monday 00:15 in Kolkata.
  EXPECT_EQ(flows::to_local(1772390700000, flows::require_zone("Asia/Kolkata")),
            (flows::LocalTime{2026, 3, 2, 1, 0, 15}));
  // Nairobi: the last millisecond of Sunday, then Monday midnight.
  const flows::Zone nairobi = flows::require_zone("Africa/Nairobi");
  EXPECT_EQ(flows::to_local(1795381199999, nairobi), (flows::LocalTime{2026, 11, 22, 7, 23, 59}));
  EXPECT_EQ(flows::to_local(1795381200000, nairobi), (flows::LocalTime{2026, 11, 23, 1, 0, 0}));
  // The epoch was a Thursday; times before it floor correctly.
  EXPECT_EQ(flows::to_local(0, flows::require_zone("UTC")),
            (flows::LocalTime{1970, 1, 1, 4, 0, 0}));
  EXPECT_EQ(flows::to_local(-1, flows::require_zone("UTC")),
            (flows::LocalTime{1969, 12, 31, 3, 23, 59}));
  EXPECT_EQ(flows::to_local(0, flows::require_zone("-03:00")),
            (flows::LocalTime{1969, 12, 31, 3, 21, 0}));
  // Leap day: 2024-02-28 19:00 UTC is Thursday 2024-02-29 00:00 in Karachi.
  EXPECT_EQ(flows::to_local(1709146800000, kKarachi), (flows::LocalTime{2024, 2, 29, 4, 0, 0}));

  EXPECT_THROW((void)flows::to_local(std::numeric_limits<std::int64_t>::max(), kKarachi),
               std::out_of_range);
  EXPECT_THROW((void)flows::to_local(std::numeric_limits<std::int64_t>::min(), kKarachi),
               std::out_of_range);
}

TEST(LocalTime, IsoWeeksAcrossYearBoundaries) {
  const auto week = [](int y, int m, int d) {
    return flows::iso_week(flows::LocalTime{y, m, d, 0, 0, 0});
  };
  EXPECT_EQ(week(2026, 11, 23), "2026-W48");
  EXPECT_EQ(week(2026, 1, 1), "2026-W01");
  EXPECT_EQ(week(2026, 12, 31), "2026-W53");
  EXPECT_EQ(week(2027, 1, 1), "2026-W53");
  EXPECT_EQ(week(2027, 1, 4), "2027-W01");
  EXPECT_EQ(week(2021, 1, 3), "2020-W53");
  EXPECT_EQ(week(2020, 12, 31), "2020-W53");
  EXPECT_EQ(week(2024, 12, 30), "2025-W01");
  EXPECT_EQ(week(2008, 12, 29), "2009-W01");
  EXPECT_EQ(week(2010, 1, 3), "2009-W53");
  EXPECT_EQ(week(1, 1, 1), "0001-W01");
  EXPECT_EQ(week(9999, 12, 31), "9999-W52");
  EXPECT_THROW((void)week(2026, 2, 29), std::invalid_argument);
  EXPECT_THROW((void)week(2026, 13, 1), std::invalid_argument);

  // Her local week, not UTC's: Sunday 2026-11-22 20:00 UTC is Monday 01:00 in Karachi.
  EXPECT_EQ(flows::iso_week(flows::to_local(1795464000000 - 86400000, kKarachi)), "2026-W48");
  EXPECT_EQ(flows::iso_week(flows::to_local(1795464000000 - 86400000, flows::require_zone("UTC"))),
            "2026-W47");
}

TEST(LocalTime, LocalToUtc) {
  EXPECT_EQ(flows::local_to_utc_ms(2026, 11, 23, 10, kKarachi), 1795410000000);
  EXPECT_EQ(flows::local_to_utc_ms(2026, 11, 23, 5, flows::require_zone("UTC")), 1795410000000);
  EXPECT_EQ(flows::local_to_utc_ms(1970, 1, 1, 0, flows::require_zone("UTC")), 0);
  EXPECT_EQ(flows::local_to_utc_ms(1970, 1, 1, 5, kKarachi), 0);
  // Hour 24 is midnight at the end of the day.
  EXPECT_EQ(flows::local_to_utc_ms(2026, 11, 22, 24, kKarachi),
            flows::local_to_utc_ms(2026, 11, 23, 0, kKarachi));
  EXPECT_EQ(flows::local_to_utc_ms(2024, 2, 29, 10, kKarachi), 1709182800000);
  EXPECT_THROW((void)flows::local_to_utc_ms(2026, 2, 29, 10, kKarachi), std::invalid_argument);
  EXPECT_THROW((void)flows::local_to_utc_ms(2026, 4, 31, 10, kKarachi), std::invalid_argument);
  EXPECT_THROW((void)flows::local_to_utc_ms(2026, 11, 23, 25, kKarachi), std::invalid_argument);
  EXPECT_THROW((void)flows::local_to_utc_ms(2026, 11, 23, -1, kKarachi), std::invalid_argument);
}

TEST(LocalTime, NextWindowStart) {
  const std::int64_t ten_today = 1795410000000;  // Mon 2026-11-23 10:00 in Karachi
  const std::int64_t ten_tomorrow = 1795496400000;
  EXPECT_EQ(flows::next_window_start(1795409940000, 10, kKarachi), ten_today);     // 09:59
  EXPECT_EQ(flows::next_window_start(ten_today, 10, kKarachi), ten_today);         // exactly 10:00
  EXPECT_EQ(flows::next_window_start(ten_today + 1, 10, kKarachi), ten_tomorrow);  // just after
  EXPECT_EQ(flows::next_window_start(1795410060000, 10, kKarachi), ten_tomorrow);  // 10:01
  EXPECT_EQ(flows::next_window_start(1795496399999, 10, kKarachi),
            ten_tomorrow);  // Tue 09:59:59.999
  // 20:00 UTC on Monday is already Tuesday 01:00 in Karachi: Tuesday's 10:00, not Monday's.
  EXPECT_EQ(flows::next_window_start(1795464000000, 10, kKarachi), ten_tomorrow);
  // Across the year end: 2026-12-31 23:00 in Karachi -> 2027-01-01 08:00.
  EXPECT_EQ(flows::next_window_start(1798740000000, 8, kKarachi), 1798772400000);
  // Across a leap day.
  EXPECT_EQ(flows::next_window_start(1709146800000, 10, kKarachi), 1709182800000);
  // Midnight window.
  EXPECT_EQ(flows::next_window_start(ten_today, 0, kKarachi),
            flows::local_to_utc_ms(2026, 11, 24, 0, kKarachi));
  EXPECT_EQ(
      flows::to_local(flows::next_window_start(ten_today, 23, flows::require_zone("Asia/Kolkata")),
                      flows::require_zone("Asia/Kolkata")),
      (flows::LocalTime{2026, 11, 23, 1, 23, 0}));
  EXPECT_THROW((void)flows::next_window_start(ten_today, 24, kKarachi), std::invalid_argument);
  EXPECT_THROW((void)flows::next_window_start(ten_today, -1, kKarachi), std::invalid_argument);
}

}  // namespace
}  // namespace rabta::gateway
