# suite_target_defaults(<target>): the compile options every target of our own gets:
# warnings (as errors unless SUITE_WERROR=OFF) and, with SUITE_SANITIZE, ASan+UBSan.
function(suite_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  # GCC 12 reports false -Wrestrict positives inside std::string at -O3 (GCC PR 105329).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(SUITE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Link only the shared libraries a binary really uses: the gateway, for one, uses no
# CAF, and every library mapped costs resident memory at start.
add_link_options(-Wl,--as-needed)
# And only the functions it uses: each in a section of its own, so the linker drops the
# ones nothing calls (the gateway's code: 1.37 -> 1.31 MB at -O3). Release only: the
# sanitizer and fuzz builds keep their instrumentation sections as the compiler made them.
add_compile_options($<$<CONFIG:Release>:-ffunction-sections>
                    $<$<CONFIG:Release>:-fdata-sections>)
add_link_options($<$<CONFIG:Release>:-Wl,--gc-sections>)

if(SUITE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# The fuzz build: coverage instrumentation and ASan+UBSan on everything, so the fuzzer
# sees inside the libraries it drives; only fuzz targets link libFuzzer's main.
if(SUITE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SUITE_FUZZ=ON needs Clang (-DCMAKE_CXX_COMPILER=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined
                      -fsanitize-ignorelist=${PROJECT_SOURCE_DIR}/fuzz/ubsan_ignorelist.txt)
  add_link_options(-fsanitize=address,undefined)
endif()
