# Finds every dependency as an imported target and decides which optional parts are built.
# The result is summarised by HmbSummary.cmake at the end of configure.

# ---- LibTorch, from the torch wheel in the project's Python environment --------------------
if(NOT Torch_DIR)
  find_program(HMB_PYTHON NAMES python3 python PATHS "${HMB_VENV}/bin" NO_DEFAULT_PATH)
  if(HMB_PYTHON)
    execute_process(
      COMMAND "${HMB_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _hmb_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _hmb_rc ERROR_QUIET)
    if(_hmb_rc EQUAL 0 AND _hmb_torch_prefix)
      set(Torch_DIR "${_hmb_torch_prefix}/Torch" CACHE PATH "LibTorch's CMake folder" FORCE)
      get_filename_component(HMB_SITE_PACKAGES "${_hmb_torch_prefix}/../../.." ABSOLUTE)
    endif()
  endif()
endif()
if(NOT Torch_DIR)
  message(FATAL_ERROR "hep-mlbench: LibTorch not found. Run scripts/setup.sh (it makes ${HMB_VENV} "
                      "with the torch wheel), or pass -DTorch_DIR=<libtorch>/share/cmake/Torch.")
endif()
if(NOT HMB_SITE_PACKAGES)
  get_filename_component(HMB_SITE_PACKAGES "${Torch_DIR}/../../../.." ABSOLUTE)
endif()

# The wheel ships its CUDA libraries (cudart, cuDNN, NCCL, CUPTI) under site-packages/nvidia.
# hep-mlbench links the same copies LibTorch loads, so one process never mixes two versions.
file(GLOB HMB_WHEEL_NVIDIA_DIRS LIST_DIRECTORIES true "${HMB_SITE_PACKAGES}/nvidia/*")
set(HMB_WHEEL_NVIDIA_LIBDIRS "")
foreach(_d IN LISTS HMB_WHEEL_NVIDIA_DIRS)
  if(IS_DIRECTORY "${_d}/lib")
    list(APPEND HMB_WHEEL_NVIDIA_LIBDIRS "${_d}/lib")
  endif()
endforeach()

# The CUDA toolkit: the system's (/usr/local/cuda) when there is one, else the one the torch
# wheel's environment carries (nvidia/cu13: headers and libraries from the wheel's CUDA
# packages, nvcc from PyPI's nvidia-cuda-nvcc, which scripts/setup.sh adds when the system
# has no toolkit). LibTorch's CMake config needs a toolkit, GPU or not.
if(NOT CUDAToolkit_ROOT AND NOT DEFINED ENV{CUDAToolkit_ROOT})
  if(EXISTS "/usr/local/cuda/bin/nvcc")
    set(CUDAToolkit_ROOT "/usr/local/cuda")
  elseif(EXISTS "${HMB_SITE_PACKAGES}/nvidia/cu13/bin/nvcc")
    set(CUDAToolkit_ROOT "${HMB_SITE_PACKAGES}/nvidia/cu13")
  endif()
endif()
if(CUDAToolkit_ROOT AND NOT CMAKE_CUDA_COMPILER AND EXISTS "${CUDAToolkit_ROOT}/bin/nvcc")
  set(CMAKE_CUDA_COMPILER "${CUDAToolkit_ROOT}/bin/nvcc")
endif()
if(CUDAToolkit_ROOT AND NOT CUDA_TOOLKIT_ROOT_DIR)
  # LibTorch's config also runs the older FindCUDA, which reads this name.
  set(CUDA_TOOLKIT_ROOT_DIR "${CUDAToolkit_ROOT}" CACHE PATH "CUDA toolkit for LibTorch's FindCUDA")
endif()
# LibTorch's CUDA config links nvrtc by path: name the wheel's copy (see below for the rest).
if(HMB_WITH_CUDA)
  # CUDA 13 wheels (LibTorch >= 2.9 on PyPI) or CUDA 12 ones (LibTorch 2.8 on PyPI: CUDA 12.8).
  find_file(HMB_WHEEL_NVRTC NAMES libnvrtc.so.13 libnvrtc.so.12 HINTS ${HMB_WHEEL_NVIDIA_LIBDIRS} NO_DEFAULT_PATH)
  if(HMB_WHEEL_NVRTC)
    set(CUDA_NVRTC_LIB "${HMB_WHEEL_NVRTC}" CACHE FILEPATH "nvrtc (the torch wheel's copy)")
  endif()
endif()

# LibTorch's config finds the CUDA toolkit itself (with its own, newer FindCUDAToolkit, which
# knows CUDA 13) and defines the CUDA:: targets; hep-mlbench uses those.
find_package(Torch CONFIG REQUIRED)
if(HMB_WITH_CUDA AND NOT TARGET CUDA::cudart)
  message(WARNING "hep-mlbench: no CUDA toolkit found: HMB_WITH_CUDA turned OFF (CPU-only build)")
  set(HMB_WITH_CUDA OFF CACHE BOOL "" FORCE)
endif()
# LibTorch's config links the toolkit's CUDA libraries (CUDA::cudart, ...). Point those targets
# at the wheel's copies of the same libraries, which LibTorch itself loads at run time, so that
# the run path is consistent and one process never holds two versions of libcudart.
if(HMB_WITH_CUDA)
  get_property(_hmb_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
  foreach(_t IN LISTS _hmb_imported)
    if(NOT _t MATCHES "^CUDA::")
      continue()
    endif()
    get_target_property(_type ${_t} TYPE)
    if(_type STREQUAL "INTERFACE_LIBRARY")
      continue()
    endif()
    get_target_property(_loc ${_t} IMPORTED_LOCATION)
    if(NOT _loc OR NOT _loc MATCHES "\\.so")
      continue()
    endif()
    get_filename_component(_name "${_loc}" NAME)
    foreach(_d IN LISTS HMB_WHEEL_NVIDIA_LIBDIRS)
      file(GLOB _cand "${_d}/${_name}.[0-9]*")
      list(FILTER _cand EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
      if(_cand)
        list(GET _cand 0 _wheel_lib)
        set_property(TARGET ${_t} PROPERTY IMPORTED_LOCATION "${_wheel_lib}")
        break()
      endif()
    endforeach()
  endforeach()
endif()
if(HMB_WITH_CUDA AND NOT TARGET torch_cuda)
  message(WARNING "hep-mlbench: this LibTorch has no CUDA support: HMB_WITH_CUDA turned OFF")
  set(HMB_WITH_CUDA OFF CACHE BOOL "" FORCE)
endif()

# ---- the other libraries -------------------------------------------------------------------
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(spdlog CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
# Gloo's headers for c10d's Gloo process group (the library itself is inside LibTorch).
find_path(HMB_GLOO_INCLUDE_DIR gloo/algorithm.h)
if(NOT HMB_GLOO_INCLUDE_DIR)
  message(FATAL_ERROR "hep-mlbench: Gloo's headers (gloo/algorithm.h) not found: install Debian's libgloo-dev "
                      "(scripts/setup.sh does), or pass -DHMB_GLOO_INCLUDE_DIR=<folder holding gloo/>")
endif()
if(HMB_BUILD_TESTS)
  find_package(Catch2 CONFIG REQUIRED)
endif()

# ---- CUDA-side libraries: NCCL, CUPTI, NVML ------------------------------------------------
# Prefer the wheel's copy (the one LibTorch loads at run time), else the toolkit's.
function(hmb_find_cuda_lib var libname header)
  find_library(${var}_LIBRARY NAMES ${libname} NAMES_PER_DIR
    HINTS ${HMB_WHEEL_NVIDIA_LIBDIRS} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_DIR}/stubs)
  get_filename_component(_libdir "${${var}_LIBRARY}" DIRECTORY)
  find_path(${var}_INCLUDE_DIR NAMES ${header}
    HINTS "${_libdir}/../include" ${CUDAToolkit_INCLUDE_DIRS} ${ARGN})
  if(${var}_LIBRARY AND ${var}_INCLUDE_DIR)
    set(${var}_FOUND TRUE PARENT_SCOPE)
  else()
    set(${var}_FOUND FALSE PARENT_SCOPE)
  endif()
endfunction()

if(HMB_WITH_CUDA)
  hmb_find_cuda_lib(HMB_CUDART "cudart;libcudart.so.13;libcudart.so.12" cuda_runtime_api.h)
  add_library(hmb::cudart UNKNOWN IMPORTED)
  set_target_properties(hmb::cudart PROPERTIES IMPORTED_LOCATION "${HMB_CUDART_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HMB_CUDART_INCLUDE_DIR}")
  hmb_find_cuda_lib(HMB_NCCL "nccl;libnccl.so.2" nccl.h)
  if(NOT HMB_NCCL_FOUND)
    message(FATAL_ERROR "hep-mlbench: NCCL not found (wheel: nvidia-nccl-cu13, or the toolkit). "
                        "Install it or configure with -DHMB_WITH_CUDA=OFF.")
  endif()
  add_library(hmb::nccl UNKNOWN IMPORTED)
  set_target_properties(hmb::nccl PROPERTIES IMPORTED_LOCATION "${HMB_NCCL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HMB_NCCL_INCLUDE_DIR}")
else()
  set(HMB_WITH_CUPTI OFF CACHE BOOL "" FORCE)
  set(HMB_WITH_NVML OFF CACHE BOOL "" FORCE)
endif()

if(HMB_WITH_CUPTI)
  hmb_find_cuda_lib(HMB_CUPTI "cupti;libcupti.so.13;libcupti.so.12" cupti.h "${CUDAToolkit_ROOT}/extras/CUPTI/include")
  if(NOT HMB_CUPTI_FOUND)
    message(WARNING "hep-mlbench: CUPTI not found: HMB_WITH_CUPTI turned OFF")
    set(HMB_WITH_CUPTI OFF CACHE BOOL "" FORCE)
  else()
    add_library(hmb::cupti UNKNOWN IMPORTED)
    set_target_properties(hmb::cupti PROPERTIES IMPORTED_LOCATION "${HMB_CUPTI_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${HMB_CUPTI_INCLUDE_DIR}")
  endif()
endif()

if(HMB_WITH_NVML)
  # nvml.h comes from PyPI's nvidia-nvml-dev when the toolkit lacks it. The library is the
  # driver's libnvidia-ml.so.1, loaded at run time (dlopen): the binary must also start on
  # machines without a driver, so it is not linked.
  find_path(HMB_NVML_INCLUDE_DIR nvml.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} "${HMB_SITE_PACKAGES}/nvidia/nvml/include"
          "${HMB_SITE_PACKAGES}/nvidia/cu13/include")
  if(HMB_NVML_INCLUDE_DIR)
    add_library(hmb::nvml INTERFACE IMPORTED)
    target_include_directories(hmb::nvml INTERFACE "${HMB_NVML_INCLUDE_DIR}")
  else()
    message(WARNING "hep-mlbench: nvml.h not found: HMB_WITH_NVML turned OFF. "
                    "scripts/setup.sh installs nvml.h from PyPI's nvidia-nvml-dev.")
    set(HMB_WITH_NVML OFF CACHE BOOL "" FORCE)
  endif()
endif()

# ---- fmt: the system's, ahead of the copy inside LibTorch's include folder -------------------
find_path(HMB_FMT_INCLUDE_DIR fmt/core.h PATHS /usr/include /usr/local/include NO_CMAKE_PATH)
if(NOT HMB_FMT_INCLUDE_DIR)
  message(FATAL_ERROR "hep-mlbench: fmt headers not found (Debian: libfmt-dev)")
endif()
set(HMB_FMT_SHIM_DIR "${CMAKE_BINARY_DIR}/fmt-shim")
file(MAKE_DIRECTORY "${HMB_FMT_SHIM_DIR}")
file(CREATE_LINK "${HMB_FMT_INCLUDE_DIR}/fmt" "${HMB_FMT_SHIM_DIR}/fmt" SYMBOLIC)

# ---- warnings on hep-mlbench's own targets ---------------------------------------------------
function(hmb_project_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual)
  if(HMB_WARNINGS_AS_ERRORS)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
