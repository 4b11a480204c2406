// Moved to common/atomic_file.h: one implementation serves the agent's state folder and the TLS files. This header
// only forwards, for includers not moved yet; include common/atomic_file.h instead.
#pragma once

#include "common/atomic_file.h"
