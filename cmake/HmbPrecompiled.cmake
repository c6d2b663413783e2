# LibTorch's precompiled header, for the sources that need it and only those.
#
# LibTorch's headers are most of the compile time of a file that includes them, so they are
# compiled once into a precompiled header that every target reuses. But the header is large
# (about 0.7 GB with g++), and loading it costs a file that never includes LibTorch more than the
# file itself: a metrics file that takes 10 s on its own took 20 s with it (performance.md).
# So each source is scanned at configure time: one whose #include chain, through hep-mlbench's
# own headers, reaches <torch/...>, <ATen/...> or <c10/...> uses the precompiled header; every
# other source skips it (SKIP_PRECOMPILE_HEADERS).
#
# The list of the sources that reach LibTorch is also written to the build folder
# (hmb_torch_sources.txt, one path per line, relative to the source root): the LibTorch
# compatibility check (scripts/libtorch_compat.sh) compiles exactly those.
#
# The scan runs when CMake configures. A file that starts or stops including LibTorch between
# two configures still builds correctly; it is only compiled with the wrong choice until the
# next configure.
#
#   hmb_torch_pch(<target> <headers>...)      makes <target>, which builds the precompiled header
#   hmb_reuse_torch_pch(<owner> <target>...)  <target>s reuse it where their sources reach LibTorch
#                                             (call it once their sources are all added)
#   hmb_write_torch_sources()                 writes hmb_torch_sources.txt (after every target)
#   hmb_reaches_torch(<file> <out>)           the scan (tests/scripts/test_torch_scan.cmake)

# hmb_reaches_torch(<file> <out>): TRUE if <file> or a hep-mlbench header it includes, at any
# depth, includes a LibTorch header. Headers are looked up beside the including file, then in
# the roots of HMB_SCAN_ROOTS; headers found in neither are third-party and not followed.
# Answers are remembered for the whole configure, except a negative one reached while part of an
# include cycle was still being scanned: that one is scanned again when asked.
function(hmb_reaches_torch file out)
  _hmb_scan("${file}" result complete)
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(_hmb_scan file out_result out_complete)
  get_property(known GLOBAL PROPERTY "HMB_REACHES_TORCH:${file}" SET)
  if(known)
    get_property(value GLOBAL PROPERTY "HMB_REACHES_TORCH:${file}")
    set(${out_result} ${value} PARENT_SCOPE)
    set(${out_complete} TRUE PARENT_SCOPE)
    return()
  endif()
  get_property(scanning GLOBAL PROPERTY "HMB_SCANNING:${file}")
  if(scanning)  # an include cycle: this file's answer comes from its own scan, further up
    set(${out_result} FALSE PARENT_SCOPE)
    set(${out_complete} FALSE PARENT_SCOPE)
    return()
  endif()
  set_property(GLOBAL PROPERTY "HMB_SCANNING:${file}" TRUE)
  set(result FALSE)
  set(complete TRUE)
  get_filename_component(own_dir "${file}" DIRECTORY)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[<\"]([^>\"]+)[>\"].*" "\\1" header "${line}")
    if(header MATCHES "^(torch|ATen|c10)/")
      set(result TRUE)
      break()
    endif()
    foreach(dir IN ITEMS "${own_dir}" ${HMB_SCAN_ROOTS})
      if(EXISTS "${dir}/${header}" AND NOT IS_DIRECTORY "${dir}/${header}")
        get_filename_component(found "${dir}/${header}" ABSOLUTE)
        _hmb_scan("${found}" inner inner_complete)
        if(inner)
          set(result TRUE)
        elseif(NOT inner_complete)
          set(complete FALSE)
        endif()
        break()
      endif()
    endforeach()
    if(result)
      break()
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY "HMB_SCANNING:${file}" FALSE)
  if(result OR complete)
    set_property(GLOBAL PROPERTY "HMB_REACHES_TORCH:${file}" ${result})
    set(complete TRUE)
  endif()
  set(${out_result} ${result} PARENT_SCOPE)
  set(${out_complete} ${complete} PARENT_SCOPE)
endfunction()

function(hmb_torch_pch target)
  # A target of its own, with one empty source that uses the header: a precompiled header is
  # only made for a target that has a source using it.
  set(src "${CMAKE_CURRENT_BINARY_DIR}/generated/${target}.cpp")
  file(CONFIGURE OUTPUT "${src}" CONTENT
       "// Builds LibTorch's precompiled header for hep-mlbench (cmake/HmbPrecompiled.cmake).\n")
  add_library(${target} OBJECT "${src}")
  target_precompile_headers(${target} PRIVATE ${ARGN})
endfunction()

function(hmb_reuse_torch_pch owner)
  foreach(target IN LISTS ARGN)
    target_precompile_headers(${target} REUSE_FROM ${owner})
    _hmb_skip_pch_where_no_torch(${target})
  endforeach()
endfunction()

function(_hmb_skip_pch_where_no_torch target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  foreach(src IN LISTS sources)
    if(src MATCHES "^\\$<" OR NOT src MATCHES "\\.(cpp|cc|cxx)$")
      continue()  # object files of other targets, headers
    endif()
    get_filename_component(path "${src}" ABSOLUTE BASE_DIR "${source_dir}")
    hmb_reaches_torch("${path}" torch)
    if(torch)
      file(RELATIVE_PATH rel "${CMAKE_SOURCE_DIR}" "${path}")
      set_property(GLOBAL APPEND PROPERTY HMB_TORCH_SOURCES "${rel}")
    else()
      set_source_files_properties("${src}" TARGET_DIRECTORY ${target}
                                  PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endif()
  endforeach()
endfunction()

function(hmb_write_torch_sources)
  get_property(list GLOBAL PROPERTY HMB_TORCH_SOURCES)
  list(REMOVE_DUPLICATES list)
  list(SORT list)
  string(REPLACE ";" "\n" text "${list}")
  file(WRITE "${CMAKE_BINARY_DIR}/hmb_torch_sources.txt.tmp" "${text}\n")
  file(RENAME "${CMAKE_BINARY_DIR}/hmb_torch_sources.txt.tmp" "${CMAKE_BINARY_DIR}/hmb_torch_sources.txt")
endfunction()
