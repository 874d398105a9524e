# The two stanzas every folder repeats, written once.
#
# rabta_library(NAME SOURCES a.cpp… [DEPS public…] [PRIVATE_DEPS private…])
#   One static library per folder (one folder = one target = one concern, docs/ARCHITECTURE.md).
#   Includes are written from the repository root ("gateway/inbound/app.hpp"); every library gets
#   the warnings and sanitizers of rabta_options.
# rabta_test(NAME SOURCES a.cpp… [LIBS libraries…] [TIMEOUT seconds] [PROPERTIES ctest props…])
#   One GoogleTest executable, its tests discovered into ctest. RABTA_SOURCE_DIR points at the
#   repository (fixtures, config/); TIMEOUT bounds every test of the executable (real sockets).

function(rabta_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC rabta_options ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()

function(rabta_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;PROPERTIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_compile_definitions(${name} PRIVATE RABTA_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE rabta_options ${ARG_LIBS} GTest::gtest_main)
  set(props ${ARG_PROPERTIES})
  if(ARG_TIMEOUT)
    list(APPEND props TIMEOUT ${ARG_TIMEOUT})
  endif()
  if(props)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${props})
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
