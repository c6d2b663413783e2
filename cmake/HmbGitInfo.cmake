# The git commit the binary was built from (for --version and the report's bmk_checksum),
# written at build time into generated/util/git_commit.hpp by cmake/HmbGitCommit.cmake, so an
# incremental build after a commit or an edit never carries the commit of its first configure.
# HMB_GIT_COMMIT can be given from outside (a container build has no .git); it then wins.
set(HMB_GIT_COMMIT "" CACHE STRING "git commit to report (empty: asked of git at every build)")
find_package(Git QUIET)

# hmb_git_commit_target(TARGET OUT): a target that refreshes OUT at every build; OUT changes
# (and what includes it recompiles) only when the commit or the dirty state does.
function(hmb_git_commit_target target out)
  add_custom_target(${target}
    COMMAND "${CMAKE_COMMAND}" "-DOUT=${out}" "-DSOURCE_DIR=${CMAKE_SOURCE_DIR}"
            "-DGIT_EXECUTABLE=${GIT_EXECUTABLE}" "-DOVERRIDE=${HMB_GIT_COMMIT}"
            -P "${CMAKE_SOURCE_DIR}/cmake/HmbGitCommit.cmake"
    BYPRODUCTS "${out}"
    COMMENT "" VERBATIM)
endfunction()
