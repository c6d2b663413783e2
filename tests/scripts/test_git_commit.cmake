# cmake/HmbGitCommit.cmake, the build-time writer of the git commit header: it writes the
# override or git's answer, rewrites the file when the commit changes, and leaves it untouched
# (so nothing recompiles) when it does not.   cmake -DSOURCE_DIR=... -DWORK=... -P this file
set(out "${WORK}/git_commit.hpp")
file(REMOVE "${out}")
function(write_commit override)
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DOUT=${out}" "-DSOURCE_DIR=${SOURCE_DIR}"
                  "-DGIT_EXECUTABLE=${GIT_EXECUTABLE}" "-DOVERRIDE=${override}"
                  -P "${SOURCE_DIR}/cmake/HmbGitCommit.cmake" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "HmbGitCommit.cmake failed: ${rc}")
  endif()
endfunction()
function(expect text)
  file(READ "${out}" got)
  if(NOT got MATCHES "#define HMB_GIT_COMMIT \"${text}\"")
    message(FATAL_ERROR "expected commit '${text}', the header says: ${got}")
  endif()
endfunction()

write_commit("abc123")
expect("abc123")
file(TIMESTAMP "${out}" first "%s")
execute_process(COMMAND "${CMAKE_COMMAND}" -E sleep 1.1)
write_commit("abc123")
file(TIMESTAMP "${out}" second "%s")
if(NOT first STREQUAL second)
  message(FATAL_ERROR "the same commit rewrote the header (${first} then ${second}): every build would recompile")
endif()
write_commit("def456")
expect("def456")
# No override, no git: "unknown", never a stale commit.
execute_process(COMMAND "${CMAKE_COMMAND}" "-DOUT=${out}" "-DSOURCE_DIR=${WORK}" "-DGIT_EXECUTABLE="
                "-DOVERRIDE=" -P "${SOURCE_DIR}/cmake/HmbGitCommit.cmake")
expect("unknown")
message(STATUS "git commit header: ok")
