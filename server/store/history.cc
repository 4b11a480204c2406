#include "server/store/history.h"

#include <algorithm>
#include <cctype>

namespace ksweep::server {
namespace {

bool Present(v1::ProductState s) { return s >= v1::PRODUCT_STATE_INSTALLED; }

v1::Event MakeEvent(v1::EventType type, const std::string& product, const ProductStatus* before,
                    const ProductStatus* after) {
  v1::Event e;
  e.set_type(type);
  e.set_product_id(product);
  if (before != nullptr) {
    e.set_old_state(before->state);
    e.set_old_version(before->version);
  }
  if (after != nullptr) {
    e.set_new_state(after->state);
    e.set_new_version(after->version);
  }
  return e;
}

}  // namespace

ProductMap ProductsOf(const v1::HostReport& report) {
  ProductMap out;
  for (const auto& f : report.findings()) {
    auto& slot = out[f.product_id()];
    if (f.state() >= slot.state) slot = ProductStatus{f.state(), f.version(), f.product_name()};
  }
  return out;
}

std::vector<v1::Event> DiffProducts(const ProductMap& before, const ProductMap& after,
                                    const std::set<std::string>& ever_seen) {
  std::vector<v1::Event> events;
  for (const auto& [id, now] : after) {
    auto it = before.find(id);
    if (it == before.end()) {
      events.push_back(MakeEvent(ever_seen.count(id) != 0 ? v1::EVENT_TYPE_REAPPEARED : v1::EVENT_TYPE_DETECTED, id,
                                 nullptr, &now));
      continue;
    }
    const ProductStatus& was = it->second;
    if (Present(was.state) && !Present(now.state)) {
      events.push_back(MakeEvent(v1::EVENT_TYPE_REMOVED, id, &was, &now));
    } else if (!Present(was.state) && Present(now.state)) {
      events.push_back(MakeEvent(v1::EVENT_TYPE_REAPPEARED, id, &was, &now));
    } else if (was.state != now.state) {
      events.push_back(MakeEvent(v1::EVENT_TYPE_STATE_CHANGED, id, &was, &now));
    } else if (was.version != now.version) {
      events.push_back(MakeEvent(v1::EVENT_TYPE_VERSION_CHANGED, id, &was, &now));
    }
  }
  for (const auto& [id, was] : before) {
    if (after.count(id) == 0) events.push_back(MakeEvent(v1::EVENT_TYPE_REMOVED, id, &was, nullptr));
  }
  return events;
}

Status CheckReport(const v1::HostReport& report, std::string_view where) {
  const std::string at(where);
  switch (report.verdict()) {
    case v1::VERDICT_CLEAN:
    case v1::VERDICT_REMNANT:
    case v1::VERDICT_INSTALLED:
    case v1::VERDICT_RUNNING:
      break;
    default:
      return Status::InvalidArgument(at + ": verdict " + std::to_string(report.verdict()) +
                                     " is not one an agent may send (CLEAN, REMNANT, INSTALLED or RUNNING)");
  }
  std::set<std::string> seen;
  for (int i = 0; i < report.findings_size(); ++i) {
    const auto& f = report.findings(i);
    const std::string fat = at + ": findings[" + std::to_string(i) + "]";
    if (f.product_id().empty()) return Status::InvalidArgument(fat + ": product_id is empty");
    if (f.product_id().size() > 128) return Status::InvalidArgument(fat + ": product_id longer than 128 bytes");
    if (!seen.insert(f.product_id()).second) {
      return Status::InvalidArgument(fat + ": product '" + f.product_id() + "' appears twice");
    }
    if (f.state() < v1::PRODUCT_STATE_REMNANT || f.state() > v1::PRODUCT_STATE_RUNNING) {
      return Status::InvalidArgument(fat + " (" + f.product_id() + "): state " + std::to_string(f.state()) +
                                     " is not REMNANT, INSTALLED or RUNNING");
    }
  }
  return Status::Ok();
}

int VerdictRank(v1::Verdict verdict) {
  switch (verdict) {
    case v1::VERDICT_RUNNING: return 5;
    case v1::VERDICT_INSTALLED: return 4;
    case v1::VERDICT_REMNANT: return 3;
    case v1::VERDICT_STALE: return 2;
    case v1::VERDICT_CLEAN: return 1;
    default: return 0;
  }
}

std::string VerdictName(v1::Verdict verdict) {
  std::string name = v1::Verdict_Name(verdict);
  constexpr std::string_view kPrefix = "VERDICT_";
  if (name.rfind(kPrefix, 0) == 0) name.erase(0, kPrefix.size());
  return name;
}

std::optional<v1::Verdict> ParseVerdictName(std::string_view name) {
  std::string upper;
  for (char c : name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (upper.rfind("VERDICT_", 0) != 0) upper = "VERDICT_" + upper;
  v1::Verdict v;
  if (!v1::Verdict_Parse(upper, &v) || v == v1::VERDICT_UNSPECIFIED) return std::nullopt;
  return v;
}

std::vector<std::string> ProductsStrongestFirst(const ProductMap& products) {
  std::vector<std::pair<int, std::string>> items;
  for (const auto& [id, st] : products) items.emplace_back(-static_cast<int>(st.state), id);
  std::sort(items.begin(), items.end());
  std::vector<std::string> out;
  for (auto& [rank, id] : items) out.push_back(std::move(id));
  return out;
}

}  // namespace ksweep::server
