# The stages of hep-mlbench, in pipeline order. A stage's code may include headers of the
# stages before it and of its own, never of a stage after it: data does not know about
# training, training does not know about the command line. Each stage is a library of its own
# (src/CMakeLists.txt) linked in this order, and this check makes a wrong-way include a
# configure error that names the file, the line and the rule.
#
#   include(HmbLayering)   hmb_check_layering(<src dir>)           (from CMakeLists.txt)
#   cmake -DHMB_LAYERING_SRC=<src dir> -P cmake/HmbLayering.cmake   (script mode, for tests)
set(HMB_STAGES util gpu sys data model dist metrics train report config app)

function(hmb_check_layering src_dir)
  set(violations "")
  list(LENGTH HMB_STAGES n_stages)
  foreach(stage IN LISTS HMB_STAGES)
    list(FIND HMB_STAGES ${stage} own)
    file(GLOB_RECURSE files "${src_dir}/${stage}/*.hpp" "${src_dir}/${stage}/*.cpp" "${src_dir}/${stage}/*.in")
    foreach(f IN LISTS files)
      file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]+\"[a-z_]+/")
      foreach(line IN LISTS lines)
        string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]+\"([a-z_]+)/.*" "\\1" target "${line}")
        list(FIND HMB_STAGES "${target}" idx)
        if(idx GREATER own)
          file(RELATIVE_PATH rel "${src_dir}" "${f}")
          string(STRIP "${line}" line)
          list(APPEND violations "  src/${rel}: ${line}  (${stage} may not include ${target}, a later stage)")
        endif()
      endforeach()
    endforeach()
  endforeach()
  if(violations)
    string(REPLACE ";" "\n" text "${violations}")
    string(REPLACE ";" " -> " order "${HMB_STAGES}")
    message(FATAL_ERROR "hep-mlbench: includes against the pipeline order (${order}):\n${text}\n"
                        "Move the shared code down to the lowest stage that needs it.")
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE AND HMB_LAYERING_SRC)
  hmb_check_layering("${HMB_LAYERING_SRC}")
  message(STATUS "layering of ${HMB_LAYERING_SRC}: ok")
endif()
