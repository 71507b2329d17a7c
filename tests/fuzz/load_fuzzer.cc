// libFuzzer entry point: any byte string given to the loader must end in a State or an opdbus::Error,
// never in a crash, a hang, a leak or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schema.h"
#include "state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    opdbus::State state = opdbus::load_state_text(text, "fuzz.json");
    // A valid document: exercise the accessors the engine uses on it.
    for (const auto& name : state.plugin_names()) {
      if (const opdbus::JsonValue* section = state.section(name)) {
        for (const auto& m : section->GetObject()) {
          opdbus::is_secret(name, {std::string(m.name.GetString(), m.name.GetStringLength()), "x"});
        }
      }
    }
  } catch (const opdbus::ValidationFailed& e) {
    for (const auto& d : e.diagnostics()) (void)d.format();
  } catch (const opdbus::Error&) {
  }
  return 0;
}
