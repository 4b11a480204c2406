// `ksweep-agent scan`'s table: the platform when the OS name does not say it, an incomplete scan next to the
// verdict, a successor's note, and Windows/macOS records shown as where they are and what they say.
#include <gtest/gtest.h>

#include <sstream>

#include "agent/report_format.h"

namespace ksweep::agent {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string LineWith(const std::string& text, const std::string& needle) {
  for (const auto& l : Lines(text)) {
    if (l.find(needle) != std::string::npos) return l;
  }
  return "(no line with " + needle + ")";
}

v1::HostReport LinuxReport() {
  v1::HostReport r;
  auto* h = r.mutable_host();
  h->set_hostname("web-7");
  h->set_host_id("3db2a1a58b418cb6936f981494ac94bb");
  h->mutable_os()->set_pretty_name("Debian GNU/Linux 12 (bookworm)");
  h->set_kernel("6.1.0-18-amd64");
  h->set_arch("x86_64");
  h->set_root("/");
  h->set_platform(v1::PLATFORM_LINUX);
  r.set_verdict(v1::VERDICT_INSTALLED);
  auto* f = r.add_findings();
  f->set_product_id("kesl");
  f->set_product_name("Kaspersky Endpoint Security for Linux");
  f->set_state(v1::PRODUCT_STATE_INSTALLED);
  f->set_version("12.1.0.1234");
  auto* e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_DPKG_PACKAGE);
  e->set_detail("dpkg package kesl:amd64 12.1.0.1234, status 'install ok installed' (installed)");
  e->set_path("/var/lib/dpkg/status");
  return r;
}

v1::HostReport WindowsReport() {
  v1::HostReport r;
  auto* h = r.mutable_host();
  h->set_hostname("DESK-0042");
  h->set_host_id("5f1c0de5f1c0de5f1c0de5f1c0de5f1c");
  h->mutable_os()->set_pretty_name("Windows 10 Pro");
  h->set_arch("x86_64");
  h->set_root("/mnt/desk");
  h->set_platform(v1::PLATFORM_WINDOWS);
  r.set_verdict(v1::VERDICT_INSTALLED);
  r.set_incomplete(true);
  auto* ok = r.add_probes();
  ok->set_name("windows_services");
  ok->set_state(v1::PROBE_STATE_OK);
  auto* failed = r.add_probes();
  failed->set_name("installed_programs");
  failed->set_state(v1::PROBE_STATE_FAILED);
  failed->set_message("hive 'Windows/System32/config/SOFTWARE': truncated");
  auto* f = r.add_findings();
  f->set_product_id("ultraav");
  f->set_product_name("UltraAV");
  f->set_state(v1::PRODUCT_STATE_INSTALLED);
  f->set_version("6.0.1");
  f->set_note("migrated from Kaspersky");
  auto* e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_INSTALLED_PROGRAM);
  e->set_path(R"(HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\{0C5F4E6A-7B1D-4F0E-9C2A-1B3D5E7F9A0B})");
  e->set_name("UltraAV");
  e->set_version("6.0.1");
  e->set_publisher("Pango");
  e->set_detail("Uninstall entry UltraAV");
  e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_REGISTRY_KEY);
  e->set_path(R"(HKLM\SOFTWARE\KasperskyLab)");
  e->set_name(R"(HKLM\SOFTWARE\KasperskyLab)");
  e->set_strength(v1::STRENGTH_WEAK);
  e->set_detail("registry key present");
  e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_WINDOWS_DRIVER);
  e->set_path(R"(HKLM\SYSTEM\CurrentControlSet\Services\klif)");
  e->set_name("klif");
  e = f->add_evidence();
  e->set_kind(v1::EVIDENCE_KIND_WINDOWS_SERVICE);
  e->set_path(R"(HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3)");
  e->set_name("AVP21.3");
  e->set_version("21.3.10.391");
  e->set_detail("service AVP21.3 (Start 2 auto), image avp.exe");
  return r;
}

TEST(ReportFormat, LinuxTableAsBefore) {
  const std::string text = FormatReportTable(LinuxReport(), false);
  const auto lines = Lines(text);
  ASSERT_GE(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0], "Host     web-7  id 3db2a1a58b418cb6936f981494ac94bb");
  EXPECT_EQ(lines[1], "OS       Debian GNU/Linux 12 (bookworm)  kernel 6.1.0-18-amd64  x86_64");
  EXPECT_EQ(lines[2], "Verdict  INSTALLED");
  EXPECT_EQ(LineWith(text, "DPKG_PACKAGE"),
            "    DPKG_PACKAGE: dpkg package kesl:amd64 12.1.0.1234, status 'install ok installed' (installed)");
}

TEST(ReportFormat, WindowsRecordsNoteAndIncompleteVerdict) {
  const std::string text = FormatReportTable(WindowsReport(), false);
  EXPECT_EQ(LineWith(text, "OS "), "OS       Windows 10 Pro  x86_64");
  EXPECT_EQ(LineWith(text, "Root"), "Root     /mnt/desk");
  EXPECT_EQ(LineWith(text, "Verdict"), "Verdict  INSTALLED (incomplete: probe installed_programs failed)");
  EXPECT_EQ(LineWith(text, "ultraav "), "ultraav  INSTALLED  6.0.1    UltraAV  (migrated from Kaspersky)");
  EXPECT_EQ(LineWith(text, "INSTALLED_PROGRAM"),
            R"(    INSTALLED_PROGRAM: HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\)"
            R"({0C5F4E6A-7B1D-4F0E-9C2A-1B3D5E7F9A0B}  'UltraAV' 6.0.1, publisher 'Pango')");
  // A key says nothing but that it is there: the agent's line after it, not the key twice.
  EXPECT_EQ(LineWith(text, "REGISTRY_KEY"), R"(    (weak) REGISTRY_KEY: HKLM\SOFTWARE\KasperskyLab  registry key present)");
  // Without the agent's line a driver is its name; a service with one reads as it (start mode, image).
  EXPECT_EQ(LineWith(text, "WINDOWS_DRIVER"), R"(    WINDOWS_DRIVER: HKLM\SYSTEM\CurrentControlSet\Services\klif  'klif')");
  EXPECT_EQ(LineWith(text, "WINDOWS_SERVICE"),
            R"(    WINDOWS_SERVICE: HKLM\SYSTEM\CurrentControlSet\Services\AVP21.3  service AVP21.3 (Start 2 auto), image avp.exe)");
  // The failure's message is among the warnings (verbose lists the probes).
  EXPECT_NE(FormatReportTable(WindowsReport(), true).find("installed_programs: FAILED"), std::string::npos);
}

TEST(ReportFormat, PlatformShownWhenTheOsNameDoesNotSayIt) {
  auto r = WindowsReport();
  r.mutable_host()->clear_os();
  EXPECT_EQ(LineWith(FormatReportTable(r, false), "OS "), "OS       (Windows)  x86_64");
  r.mutable_host()->set_platform(v1::PLATFORM_MACOS);
  r.mutable_host()->mutable_os()->set_pretty_name("Mac OS X 10.13.6");
  EXPECT_EQ(LineWith(FormatReportTable(r, false), "OS "), "OS       Mac OS X 10.13.6  x86_64");
  r.mutable_host()->mutable_os()->set_pretty_name("Darwin 23.4.0");
  EXPECT_EQ(LineWith(FormatReportTable(r, false), "OS "), "OS       Darwin 23.4.0  (macOS)  x86_64");
  // A report from an agent before platforms: nothing added.
  auto old = LinuxReport();
  old.mutable_host()->clear_platform();
  EXPECT_EQ(LineWith(FormatReportTable(old, false), "OS "),
            "OS       Debian GNU/Linux 12 (bookworm)  kernel 6.1.0-18-amd64  x86_64");
  // Incomplete without a named probe (a report made by hand): the flag alone.
  auto bare = LinuxReport();
  bare.set_incomplete(true);
  EXPECT_EQ(LineWith(FormatReportTable(bare, false), "Verdict"), "Verdict  INSTALLED (incomplete)");
}

}  // namespace
}  // namespace ksweep::agent
