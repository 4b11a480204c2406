// The REGF cell parsers over bytes: what each record holds, and every way a record can overrun itself refused.
#include "agent/windows/regf.h"

#include <gtest/gtest.h>

namespace ksweep::agent::regf {
namespace {

using namespace std::string_literals;

std::string Le16(uint16_t v) { return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)}; }
std::string Le32(uint32_t v) { return Le16(static_cast<uint16_t>(v & 0xFFFF)) + Le16(static_cast<uint16_t>(v >> 16)); }

// An nk payload: flags, counts and list offsets where the format puts them, then the name.
std::string KeyCell(uint16_t flags, const std::string& name, uint32_t subkeys = 3, uint32_t values = 2) {
  std::string c = "nk" + Le16(flags) + std::string(16, '\0') + Le32(subkeys) + Le32(0) + Le32(0x120) +
                  Le32(kNoCell) + Le32(values) + Le32(0x240) + std::string(28, '\0') +
                  Le16(static_cast<uint16_t>(name.size())) + Le16(0);
  return c + name;
}

TEST(RegfKeyNode, NamesInLatin1OrUtf16AndTheListsOffsets) {
  auto key = ParseKeyNode(KeyCell(0x20, "Soci\xe9t\xe9"));
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ(key->name, "Société");
  EXPECT_EQ(key->subkey_count, 3u);
  EXPECT_EQ(key->subkey_list, 0x120u);
  EXPECT_EQ(key->value_count, 2u);
  EXPECT_EQ(key->value_list, 0x240u);
  key = ParseKeyNode(KeyCell(0x00, "\x1a\x04\x30\x04"s));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->name, "Ка");
}

TEST(RegfKeyNode, WhatIsNotAKeyOrOverrunsIsRefused) {
  EXPECT_FALSE(ParseKeyNode("vk" + std::string(100, '\0')).ok());
  EXPECT_FALSE(ParseKeyNode("nk").ok());
  std::string cell = KeyCell(0x20, "Name");
  EXPECT_FALSE(ParseKeyNode(cell.substr(0, cell.size() - 1)).ok());
  cell.replace(72, 2, Le16(0xFFFF));
  EXPECT_NE(ParseKeyNode(cell).status().message().find("overruns"), std::string::npos);
}

TEST(RegfSubkeyList, EachKindAndItsBounds) {
  auto lh = ParseSubkeyList("lh" + Le16(2) + Le32(0x100) + Le32(0xAAAA) + Le32(0x200) + Le32(0xBBBB));
  ASSERT_TRUE(lh.ok());
  EXPECT_FALSE(lh->index_root);
  EXPECT_EQ(lh->offsets, (std::vector<uint32_t>{0x100, 0x200}));
  auto li = ParseSubkeyList("li" + Le16(2) + Le32(0x100) + Le32(0x200));
  ASSERT_TRUE(li.ok());
  EXPECT_EQ(li->offsets, (std::vector<uint32_t>{0x100, 0x200}));
  auto ri = ParseSubkeyList("ri" + Le16(1) + Le32(0x300));
  ASSERT_TRUE(ri.ok());
  EXPECT_TRUE(ri->index_root);
  EXPECT_FALSE(ParseSubkeyList("lf" + Le16(3) + Le32(0x100) + Le32(0)).ok());
  EXPECT_FALSE(ParseSubkeyList("zz" + Le16(0)).ok());
  EXPECT_FALSE(ParseSubkeyList("l").ok());
}

TEST(RegfValueNode, NameTypeAndInlineOrCellData) {
  const std::string name = "DisplayName";
  auto v = ParseValueNode("vk" + Le16(static_cast<uint16_t>(name.size())) + Le32(40) + Le32(0x880) + Le32(1) +
                          Le16(1) + Le16(0) + name);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->name, "DisplayName");
  EXPECT_EQ(v->type, 1u);
  EXPECT_EQ(v->data_size, 40u);
  EXPECT_EQ(v->data_offset, 0x880u);
  EXPECT_FALSE(v->inline_data);
  auto dword = ParseValueNode("vk" + Le16(0) + Le32(0x80000004) + Le32(7) + Le32(4) + Le16(0) + Le16(0));
  ASSERT_TRUE(dword.ok());
  EXPECT_EQ(dword->name, "");  // the default value
  EXPECT_TRUE(dword->inline_data);
  EXPECT_EQ(dword->data_offset, 7u);
  EXPECT_FALSE(ParseValueNode("vk" + Le16(0) + Le32(0x80000008) + Le32(7) + Le32(4) + Le16(0) + Le16(0)).ok());
  EXPECT_FALSE(ParseValueNode("vk" + Le16(50) + Le32(4) + Le32(7) + Le32(4) + Le16(1) + Le16(0) + "short").ok());
}

TEST(RegfLists, OffsetsAndBigDataRecords) {
  auto offsets = ParseOffsets(Le32(0x10) + Le32(0x20) + Le32(0x30), 3);
  ASSERT_TRUE(offsets.ok());
  EXPECT_EQ(*offsets, (std::vector<uint32_t>{0x10, 0x20, 0x30}));
  EXPECT_FALSE(ParseOffsets(Le32(0x10), 2).ok());
  auto db = ParseBigData("db" + Le16(3) + Le32(0x4000) + Le32(0));
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(db->segments, 3);
  EXPECT_EQ(db->segment_list, 0x4000u);
  EXPECT_EQ(ParseBigData("K\0K\0K\0K\0"s).status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace ksweep::agent::regf
