# Compiler flags for project code only (third-party headers are included as SYSTEM).
add_library(glimpse_options INTERFACE)
target_compile_options(glimpse_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wno-missing-field-initializers>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${GLIMPSE_WERROR}>>:-Werror>
  # GCC 12 reports std::string copies at -O3 as overlapping (GCC bug 105329): a false positive.
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-restrict>)
if(GLIMPSE_SANITIZE)
  target_compile_options(glimpse_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer>)
  target_link_options(glimpse_options INTERFACE -fsanitize=address,undefined)
endif()
target_compile_definitions(glimpse_options INTERFACE $<$<BOOL:${GLIMPSE_CUDA}>:GLIMPSE_WITH_CUDA=1>)

# glimpse_add_library(NAME SOURCES... [DEPS ...]): one room of the engine as a static library.
function(glimpse_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC glimpse_options ${ARG_DEPS})
endfunction()

# Tests labelled `sanitize` also run under the asan preset; this target builds just those.
add_custom_target(sanitize_tests)

# glimpse_add_test(NAME SOURCES... [DEPS ...] [LABELS ...]): a GoogleTest program registered with ctest.
function(glimpse_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    GLIMPSE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" GLIMPSE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  # The labels go on from a file ctest reads after the discovered tests: passed through
  # gtest_discover_tests' PROPERTIES, a list of labels arrives split and only the first survives.
  set(label_file "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
  file(WRITE "${label_file}"
       "if(DEFINED ${name}_TESTS)\n"
       "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${label_file}")
  if("sanitize" IN_LIST ARG_LABELS)
    add_dependencies(sanitize_tests ${name})
  endif()
endfunction()

if(GLIMPSE_FUZZ)
  # Instrument every project library for coverage; the fuzz targets add the libFuzzer main.
  target_compile_options(glimpse_options INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer>)
  target_link_options(glimpse_options INTERFACE -fsanitize=address,undefined)
endif()
