#include "flows/text.hpp"

#include <gtest/gtest.h>

using namespace rabta::flows;

TEST(NormaliseInput, TrimsSpacesAndConvertsUrduAndArabicIndicDigits) {
  EXPECT_EQ(normalise_input("  1 "), "1");
  EXPECT_EQ(normalise_input("\xDB\xB2"), "2");              // Urdu ۲
  EXPECT_EQ(normalise_input("\xD9\xA3"), "3");              // Arabic-Indic ٣
  EXPECT_EQ(normalise_input("\xDB\xB0\xDB\xB0"), "00");     // ۰۰ is the quick exit too
  EXPECT_EQ(normalise_input("\xC2\xA0 MaDaD\t"), "madad");  // no-break space, case
  EXPECT_EQ(normalise_input(""), "");
}

TEST(NormaliseInput, KeepsNonAsciiLetters) {
  EXPECT_EQ(normalise_input(" مدد "), "مدد");
}

TEST(AllDigits, OnlyAsciiDigits) {
  EXPECT_TRUE(all_digits("0123"));
  EXPECT_FALSE(all_digits(""));
  EXPECT_FALSE(all_digits("12a"));
}

TEST(Measure, Gsm7CountsSeptetsWithExtensionCharactersAsTwo) {
  EXPECT_EQ(measure("Hello").encoding, Encoding::gsm7);
  EXPECT_EQ(measure("Hello").units, 5u);
  EXPECT_EQ(measure("a{b}").units, 6u);
  EXPECT_EQ(measure("\xE2\x82\xAC").units, 2u);             // euro sign is an extension character
  EXPECT_EQ(measure("\xC3\xA9").encoding, Encoding::gsm7);  // é is in the default alphabet
}

TEST(Measure, UrduAndCurlyQuotesNeedUcs2) {
  const TextLength urdu = measure("مدد");
  EXPECT_EQ(urdu.encoding, Encoding::ucs2);
  EXPECT_EQ(urdu.units, 3u);
  EXPECT_EQ(measure("Shukriya\xE2\x80\x99").encoding, Encoding::ucs2);  // right single quote
  EXPECT_EQ(non_gsm7_characters("Shukriya\xE2\x80\x99 ok"),
            std::vector<std::string>{"\xE2\x80\x99"});
  EXPECT_EQ(measure("\xF0\x9F\x98\x80").units, 2u);  // emoji outside the BMP: a surrogate pair
}

TEST(UssdScreen, LimitsAre182Gsm7And80Ucs2) {
  EXPECT_TRUE(fits_ussd_screen(std::string(182, 'a')));
  EXPECT_FALSE(fits_ussd_screen(std::string(183, 'a')));
  EXPECT_TRUE(fits_ussd_screen(std::string(91, '[')));  // 91 x 2 septets = 182
  EXPECT_FALSE(fits_ussd_screen(std::string(92, '[')));
  std::string urdu80;
  for (int i = 0; i < 80; ++i) urdu80 += "م";
  EXPECT_TRUE(fits_ussd_screen(urdu80));
  EXPECT_FALSE(fits_ussd_screen(urdu80 + "م"));
}

TEST(Utf8, RoundTrip) {
  const std::string s = "a مدد \xF0\x9F\x98\x80";
  EXPECT_EQ(utf8_encode(utf8_decode(s)), s);
}

TEST(SmsSegments, Gsm7And153PerPartUcs2And67PerPart) {
  EXPECT_EQ(sms_segments({Encoding::gsm7, 0}), 1u);
  EXPECT_EQ(sms_segments({Encoding::gsm7, 160}), 1u);
  EXPECT_EQ(sms_segments({Encoding::gsm7, 161}), 2u);
  EXPECT_EQ(sms_segments({Encoding::gsm7, 306}), 2u);
  EXPECT_EQ(sms_segments({Encoding::gsm7, 307}), 3u);
  EXPECT_EQ(sms_segments({Encoding::ucs2, 70}), 1u);
  EXPECT_EQ(sms_segments({Encoding::ucs2, 71}), 2u);
  EXPECT_EQ(sms_segments({Encoding::ucs2, 134}), 2u);
  EXPECT_EQ(sms_segments({Encoding::ucs2, 135}), 3u);
  // One curly quote turns a 100-character Roman Urdu text from one GSM-7 SMS into two UCS-2 ones.
  EXPECT_EQ(sms_segments(measure(std::string(99, 'a') + "\xE2\x80\x99")), 2u);
  EXPECT_EQ(sms_segments(measure(std::string(100, 'a'))), 1u);
}
