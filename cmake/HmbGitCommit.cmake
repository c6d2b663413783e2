# Run with cmake -P at build time (cmake/HmbGitInfo.cmake): writes OUT with the commit of
# SOURCE_DIR (`git describe --always --dirty`), OVERRIDE when given, or "unknown" without git.
set(commit "${OVERRIDE}")
if(NOT commit AND GIT_EXECUTABLE AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=12
    WORKING_DIRECTORY "${SOURCE_DIR}" OUTPUT_VARIABLE commit
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT commit)
  set(commit "unknown")
endif()
set(text "#pragma once\n// Written at build time by cmake/HmbGitCommit.cmake.\n#define HMB_GIT_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${text}")
