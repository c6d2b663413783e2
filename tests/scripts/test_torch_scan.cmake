# cmake/HmbPrecompiled.cmake's scan, which decides the sources that use LibTorch's precompiled
# header and the ones the LibTorch compatibility check compiles: a LibTorch include found through
# hep-mlbench's own headers (beside the file or under a root), third-party headers not followed,
# include cycles, and the answer for real sources of the tree.
#   cmake -DSOURCE_DIR=... -DWORK=... -P this file
include("${SOURCE_DIR}/cmake/HmbPrecompiled.cmake")
set(tree "${WORK}/torch_scan")
file(REMOVE_RECURSE "${tree}")
function(put path text)
  file(WRITE "${tree}/${path}" "${text}\n")
endfunction()
# deep.cpp -> stage/a.hpp -> b.hpp (beside it) -> <ATen/Tensor.h>
put(src/deep.cpp "#include \"stage/a.hpp\"\n#include <vector>")
put(src/stage/a.hpp "#pragma once\n  #  include \"b.hpp\"")
put(src/stage/b.hpp "#pragma once\n#include <string>\n#include <ATen/Tensor.h>")
# plain.cpp: project and third-party headers, none with LibTorch; a commented-out include
put(src/plain.cpp "#include \"stage/c.hpp\"\n#include <nlohmann/json.hpp>\n// #include <torch/torch.h>")
put(src/stage/c.hpp "#pragma once\n#include <spdlog/spdlog.h>")
# a cycle without LibTorch, and one whose LibTorch include comes after the cycle is closed
put(src/cycle.cpp "#include \"stage/x.hpp\"")
put(src/stage/x.hpp "#pragma once\n#include \"stage/y.hpp\"")
put(src/stage/y.hpp "#pragma once\n#include \"stage/x.hpp\"")
put(src/cycle_torch.cpp "#include \"stage/p.hpp\"")
put(src/stage/p.hpp "#pragma once\n#include \"stage/q.hpp\"\n#include <c10/core/Device.h>")
put(src/stage/q.hpp "#pragma once\n#include \"stage/p.hpp\"")
put(src/via_q.cpp "#include \"stage/q.hpp\"")
# a header found only under the second root (the generated folder)
put(gen/stage/made.hpp "#include <torch/version.h>")
put(src/generated_user.cpp "#include \"stage/made.hpp\"")

set(HMB_SCAN_ROOTS "${tree}/src" "${tree}/gen")
set(failures "")
function(expect file want)
  hmb_reaches_torch("${file}" got)
  if(NOT got STREQUAL want)
    set(failures "${failures}\n  ${file}: expected ${want}, got ${got}" PARENT_SCOPE)
  endif()
endfunction()
expect("${tree}/src/deep.cpp" TRUE)
expect("${tree}/src/plain.cpp" FALSE)
expect("${tree}/src/cycle.cpp" FALSE)
expect("${tree}/src/cycle_torch.cpp" TRUE)
expect("${tree}/src/via_q.cpp" TRUE)
expect("${tree}/src/generated_user.cpp" TRUE)
expect("${tree}/src/stage/c.hpp" FALSE)
# The real tree: the trainer reaches LibTorch through its own headers, the interval arithmetic
# does not.
set(HMB_SCAN_ROOTS "${SOURCE_DIR}/src")
expect("${SOURCE_DIR}/src/train/trainer.cpp" TRUE)
expect("${SOURCE_DIR}/src/metrics/intervals.cpp" FALSE)
if(failures)
  message(FATAL_ERROR "the LibTorch include scan gave wrong answers:${failures}")
endif()
message(STATUS "LibTorch include scan: ok")
