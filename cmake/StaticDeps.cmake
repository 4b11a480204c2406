# Links the project's third-party libraries statically, using Debian's own .a archives.
#
# Why: the agent must start in milliseconds (most of a dynamic start is relocating gRPC and Abseil) and run unchanged
# on every distribution of a fleet. Rather than edit every target, this rewrites the imported targets that
# find_package() created (gRPC, protobuf, Abseil, OpenSSL, SQLite, Boost, c-ares, re2, zlib) to point at the static
# archive beside each shared library. Targets keep naming gRPC::grpc++ etc. as usual.
#
# spdlog and fmt have no static archives in Debian: the project uses them header-only (see common/CMakeLists.txt).

function(ksweep_use_static_archives)
  get_directory_property(imported IMPORTED_TARGETS)
  set(rewritten 0)
  foreach(target IN LISTS imported)
    get_target_property(type ${target} TYPE)
    if(NOT type MATCHES "^(SHARED_LIBRARY|UNKNOWN_LIBRARY)$")
      continue()
    endif()
    foreach(prop IMPORTED_LOCATION IMPORTED_LOCATION_NONE IMPORTED_LOCATION_RELEASE IMPORTED_LOCATION_RELWITHDEBINFO
                 IMPORTED_LOCATION_DEBUG IMPORTED_LOCATION_NOCONFIG)
      get_target_property(location ${target} ${prop})
      if(NOT location OR NOT location MATCHES "^(.*)/lib([^/]+)\\.so(\\.[0-9.]+)?$")
        continue()
      endif()
      set(archive "${CMAKE_MATCH_1}/lib${CMAKE_MATCH_2}.a")
      if(EXISTS "${archive}")
        set_target_properties(${target} PROPERTIES ${prop} "${archive}")
        math(EXPR rewritten "${rewritten} + 1")
      endif()
    endforeach()
  endforeach()
  message(STATUS "ksweep: static archives for ${rewritten} imported library locations")
endfunction()
