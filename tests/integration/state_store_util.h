// For tests of the agent's state folder and spool (agent/daemon/state_store.h) on real files: daemon_parts_test and
// the chaos spool_test. Needs ksweep_agent_daemon linked.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "agent/daemon/state_store.h"
#include "common/logging.h"

namespace ksweep::test {

// `seconds` after the epoch: an agent time for StateStore::Stage.
inline google::protobuf::Timestamp At(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

// The state folder `dir` opened with no logging; null, with a test failure saying why, when it cannot be.
inline std::unique_ptr<agent::StateStore> OpenStateStore(const std::string& dir) {
  auto store = agent::StateStore::Open(dir, NullLogger());
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

}  // namespace ksweep::test
