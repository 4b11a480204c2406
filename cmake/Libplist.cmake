# libplist (property lists, XML and binary) for the macOS probes, as a static archive built from Debian's source
# package by scripts/deps/libplist.sh: Debian ships only the shared library, and the agent is one static binary.
#
# scripts/build.sh runs the script and passes KSWEEP_LIBPLIST_PREFIX; a plain `cmake -S . -B build` runs it here.
# Defines the imported target ksweep::plist.
set(KSWEEP_LIBPLIST_PREFIX "" CACHE PATH "Prefix of a static libplist (empty: run scripts/deps/libplist.sh)")

set(libplist_prefix "${KSWEEP_LIBPLIST_PREFIX}")
if(NOT libplist_prefix)
  message(STATUS "ksweep: building libplist statically (scripts/deps/libplist.sh)")
  execute_process(COMMAND "${PROJECT_SOURCE_DIR}/scripts/deps/libplist.sh"
                  OUTPUT_VARIABLE libplist_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE libplist_rc)
  if(NOT libplist_rc EQUAL 0)
    message(FATAL_ERROR "scripts/deps/libplist.sh failed (${libplist_rc}); its messages are above")
  endif()
endif()

find_library(KSWEEP_LIBPLIST_ARCHIVE NAMES libplist-2.0.a libplist.a PATHS "${libplist_prefix}/lib"
             NO_DEFAULT_PATH NO_CACHE)
if(NOT KSWEEP_LIBPLIST_ARCHIVE OR NOT EXISTS "${libplist_prefix}/include/plist/plist.h")
  message(FATAL_ERROR "no static libplist under ${libplist_prefix} (lib/libplist-2.0.a, include/plist/plist.h)")
endif()
file(STRINGS "${libplist_prefix}/VERSION" libplist_version LIMIT_COUNT 1)
message(STATUS "ksweep: libplist ${libplist_version} from ${KSWEEP_LIBPLIST_ARCHIVE}")

add_library(ksweep::plist STATIC IMPORTED GLOBAL)
set_target_properties(ksweep::plist PROPERTIES
  IMPORTED_LOCATION "${KSWEEP_LIBPLIST_ARCHIVE}"
  INTERFACE_INCLUDE_DIRECTORIES "${libplist_prefix}/include"
  INTERFACE_LINK_LIBRARIES Threads::Threads)
