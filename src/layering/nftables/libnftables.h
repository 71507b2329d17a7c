// Stands in for <nftables/libnftables.h> outside src/sys/: only the wrappers in src/sys/ may use libnftables
// (src/meson.build puts this directory first on the include path of the core, the app and every plugin).
#error \
    "<nftables/libnftables.h>: only src/sys/ may include libnftables; use (or add) a typed wrapper in src/sys/"
