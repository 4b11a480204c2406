#include "server/store/host_query.h"

#include <algorithm>

namespace ksweep::server {
namespace {

// Length-prefixed so that no value can be crafted to look like another field.
void Put(std::string* out, std::string_view tag, std::string_view value) {
  out->append(tag);
  out->append(std::to_string(value.size()));
  out->push_back(':');
  out->append(value);
}

}  // namespace

std::string CanonicalQuery(const HostQuery& query, v1::HostOrder order) {
  std::string out = "hosts/1";
  Put(&out, "o", std::to_string(static_cast<int>(order)));
  for (const auto& set : query.verdict_sets) {
    std::vector<int> sorted;
    for (auto v : set) sorted.push_back(static_cast<int>(v));
    std::sort(sorted.begin(), sorted.end());
    std::string s;
    for (int v : sorted) s += std::to_string(v) + ",";
    Put(&out, "v", s);
  }
  for (const auto& set : query.platform_sets) {
    std::vector<int> sorted;
    for (auto p : set) sorted.push_back(static_cast<int>(p));
    std::sort(sorted.begin(), sorted.end());
    std::string s;
    for (int p : sorted) s += std::to_string(p) + ",";
    Put(&out, "pf", s);
  }
  for (const auto& p : query.products) {
    Put(&out, "p", p.product_id);
    Put(&out, "pv", p.version);
  }
  for (const auto& os : query.os) {
    Put(&out, "os", os.id);
    Put(&out, "osv", os.version_id);
  }
  for (const auto& g : query.hostname_globs) Put(&out, "h", g);
  for (const auto& l : query.labels) Put(&out, "l", l);
  if (query.seen_after) Put(&out, "sa", std::to_string(*query.seen_after));
  if (query.seen_before) Put(&out, "sb", std::to_string(*query.seen_before));
  return out;
}

std::string CanonicalQuery(const EventQuery& query) {
  std::string out = "events/1";
  Put(&out, "h", query.host);
  std::vector<int> types;
  for (auto t : query.types) types.push_back(static_cast<int>(t));
  std::sort(types.begin(), types.end());
  for (int t : types) Put(&out, "t", std::to_string(t));
  if (query.since) Put(&out, "s", std::to_string(*query.since));
  Put(&out, "a", std::to_string(query.after_id));
  return out;
}

}  // namespace ksweep::server
