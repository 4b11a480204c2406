// Pure helpers of the Windows probes: HKLM paths to hive files, ImagePath values to files in the root, UTF-16LE.
#include <gtest/gtest.h>

#include "agent/windows/image_path.h"
#include "agent/windows/registry_path.h"
#include "agent/windows/utf16.h"

namespace ksweep::agent {
namespace {

TEST(ParseHklmPath, SoftwareSystemAndTheCurrentControlSet) {
  auto p = ParseHklmPath("HKLM\\SOFTWARE\\KasperskyLab");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->hive_file, kSoftwareHive);
  EXPECT_FALSE(p->current_control_set);
  EXPECT_EQ(p->rest, "KasperskyLab");

  p = ParseHklmPath("hkey_local_machine\\software\\WOW6432Node\\KasperskyLab");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->hive_file, kSoftwareHive);
  EXPECT_EQ(p->rest, "WOW6432Node\\KasperskyLab");

  p = ParseHklmPath("HKLM\\SYSTEM\\CurrentControlSet\\Services\\kl*");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->hive_file, kSystemHive);
  EXPECT_TRUE(p->current_control_set);
  EXPECT_EQ(p->rest, "Services\\kl*");

  p = ParseHklmPath("HKLM\\SYSTEM\\ControlSet002\\Services");
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->current_control_set);
  EXPECT_EQ(p->rest, "ControlSet002\\Services");

  p = ParseHklmPath("HKLM\\SOFTWARE");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->rest, "");

  EXPECT_FALSE(ParseHklmPath("HKCU\\Software\\KasperskyLab"));
  EXPECT_FALSE(ParseHklmPath("HKLM\\SAM\\Domains"));
  EXPECT_FALSE(ParseHklmPath("HKLMX\\SOFTWARE"));
  EXPECT_FALSE(ParseHklmPath("HKLM\\SOFTWAREX\\Kaspersky"));
}

TEST(ImageFileInRoot, TheFormsServiceManagersWrite) {
  const std::pair<std::string, std::string> cases[] = {
      {"\\SystemRoot\\System32\\DRIVERS\\klif.sys", "/Windows/System32/DRIVERS/klif.sys"},
      {"System32\\drivers\\klflt.sys", "/Windows/System32/drivers/klflt.sys"},
      {"system32\\DRIVERS\\klhk.sys", "/Windows/system32/DRIVERS/klhk.sys"},
      {"\\??\\C:\\Windows\\system32\\drivers\\klbackupdisk.sys", "/Windows/system32/drivers/klbackupdisk.sys"},
      {"\\\\?\\c:\\ProgramData\\Kaspersky Lab\\AVP21.3\\Bases\\klids.sys",
       "/ProgramData/Kaspersky Lab/AVP21.3/Bases/klids.sys"},
      {"\"C:\\Program Files (x86)\\Kaspersky Lab\\Kaspersky Endpoint Security for Windows\\avp.exe\" -r",
       "/Program Files (x86)/Kaspersky Lab/Kaspersky Endpoint Security for Windows/avp.exe"},
      {"C:\\Program Files (x86)\\Kaspersky Lab\\NetworkAgent\\klnagent.exe -service",
       "/Program Files (x86)/Kaspersky Lab/NetworkAgent/klnagent.exe"},
      {"%SystemRoot%\\system32\\svchost.exe -k netsvcs -p", "/Windows/system32/svchost.exe"},
      {"%ProgramFiles%\\Kaspersky Lab\\KES\\avp.exe", "/Program Files/Kaspersky Lab/KES/avp.exe"},
      {"%ProgramFiles(x86)%\\UltraAV\\UltraAV.exe", "/Program Files (x86)/UltraAV/UltraAV.exe"},
      {"%SystemDrive%\\tools\\x.exe", "/tools/x.exe"},
      {"  C:\\Windows\\x.sys  ", "/Windows/x.sys"},
      {"C:\\Program Files\\No Extension\\tool", "/Program Files/No Extension/tool"},
      {"\"C:\\unterminated\\quote.exe", "/unterminated/quote.exe"},
  };
  for (const auto& [image, inside] : cases) {
    const auto got = ImageFileInRoot(image);
    ASSERT_TRUE(got) << image;
    EXPECT_EQ(*got, inside) << image;
  }
  for (const std::string_view outside :
       {"D:\\Kaspersky\\avp.exe", "\\\\server\\share\\avp.exe", "\\Device\\HarddiskVolume2\\x.sys",
        "%UNKNOWN%\\x.exe", "%SystemRoot\\x.exe", "", "   ", "C:relative.exe"}) {
    EXPECT_FALSE(ImageFileInRoot(outside)) << outside;
  }
}

TEST(Utf16leToUtf8, PairsSurrogatesAndReplacesWhatIsBroken) {
  using namespace std::string_literals;
  EXPECT_EQ(Utf16leToUtf8("K\0a\0s\0"s), "Kas");
  EXPECT_EQ(Utf16leToUtf8("\x1a\x04\x30\x04"s), "Ка");
  EXPECT_EQ(Utf16leToUtf8("\x3d\xd8\xe1\xde"s), "\xf0\x9f\x9b\xa1");  // U+1F6E1, a pair
  EXPECT_EQ(Utf16leToUtf8("\x3d\xd8" "A\0"s), "\xef\xbf\xbd" "A");      // a high surrogate alone
  EXPECT_EQ(Utf16leToUtf8("\xe1\xdd"s), "\xef\xbf\xbd");                // a low surrogate alone
  EXPECT_EQ(Utf16leToUtf8("A\0B"s), "A");                               // an odd last byte
  EXPECT_EQ(Utf16leToUtf8(""), "");
}

}  // namespace
}  // namespace ksweep::agent
