# Writes the version header with the checkout's commit as it is at build time (`-dirty` when tracked
# files differ from it), so `glimpse --version` and benchmark reports name the code that was built.
# Run by the glimpse_version target at every build; configure_file rewrites the header only when its
# text changes, so nothing recompiles otherwise.
# Expects SOURCE_DIR, INPUT, OUTPUT and PROJECT_VERSION.
execute_process(COMMAND git rev-parse --short HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE GLIMPSE_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT GLIMPSE_GIT_SHA)
  set(GLIMPSE_GIT_SHA "unknown")
else()
  execute_process(COMMAND git diff --quiet HEAD -- WORKING_DIRECTORY ${SOURCE_DIR}
                  RESULT_VARIABLE DIRTY ERROR_QUIET)
  if(DIRTY EQUAL 1)
    string(APPEND GLIMPSE_GIT_SHA "-dirty")
  endif()
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
