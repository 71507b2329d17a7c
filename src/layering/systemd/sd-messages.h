// Stands in for <systemd/sd-messages.h> outside src/sys/: only the wrappers in src/sys/ may use libsystemd
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error \
    "<systemd/sd-messages.h>: only src/sys/ may include libsystemd; use (or add) a typed wrapper in src/sys/"
