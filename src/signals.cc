#include "signals.h"

#include <signal.h>

#include <cstring>

namespace opdbus {
namespace {

volatile sig_atomic_t g_signal = 0;
struct sigaction g_old_int {
}, g_old_term{};

void on_signal(int signo) {
  g_signal = signo;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // One-shot: the second SIGINT/SIGTERM takes the default action (ends the process). SA_RESTART: the action
  // under way is finished, not failed with EINTR halfway.
  sa.sa_flags = SA_RESETHAND | SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  g_signal = 0;
}

int interrupt_signal() {
  return g_signal;
}

std::string interrupt_name() {
  switch (g_signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case 0:
      return "";
    default:
      return "signal " + std::to_string(g_signal);
  }
}

void simulate_interrupt(int signo) {
  g_signal = signo;
}

}  // namespace opdbus
