# Writes OUTPUT, a C++ source defining glimpse::server::web_ui_html() over the bytes of INPUT.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include \"server/web_ui.h\"\n"
  "namespace glimpse::server {\nnamespace {\nconst unsigned char kPage[] = {${bytes}};\n}\n"
  "std::string_view web_ui_html() { return {reinterpret_cast<const char*>(kPage), sizeof(kPage)}; }\n}\n")
