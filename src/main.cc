#include "app/cli.h"

int main(int argc, char** argv) {
  return opdbus::run_cli(argc, argv);
}
