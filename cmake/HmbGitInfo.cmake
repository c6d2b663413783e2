# The git commit the binary was built from (for --version and the report's bmk_checksum).
# HMB_GIT_COMMIT can be given from outside (a container build has no .git).
if(NOT HMB_GIT_COMMIT)
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS "${CMAKE_SOURCE_DIR}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=12
      WORKING_DIRECTORY "${CMAKE_SOURCE_DIR}" OUTPUT_VARIABLE HMB_GIT_COMMIT
      OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
endif()
if(NOT HMB_GIT_COMMIT)
  set(HMB_GIT_COMMIT "unknown")
endif()
