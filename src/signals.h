// SIGINT and SIGTERM during an apply: the handler only records the signal; the engine checks interrupted()
// between actions, so the action under way finishes, the current plugin is rolled back if it took a
// checkpoint, the journal says so, and op-dbus exits non-zero. A second signal ends the process at once (the
// handler is one-shot), for an operator who really means it.
#pragma once

#include <string>

namespace opdbus {

// Installs the handlers while alive; restores the previous ones and forgets the signal on destruction.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

// The signal that arrived (SIGINT, SIGTERM) since the guard was installed, or 0.
int interrupt_signal();
inline bool interrupted() {
  return interrupt_signal() != 0;
}
// "SIGTERM"
std::string interrupt_name();

// For tests: behave as if `signo` had arrived.
void simulate_interrupt(int signo);

}  // namespace opdbus
