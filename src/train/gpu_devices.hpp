#pragma once
// --gpu-devices: the explicit choice of GPUs (which devices, not only how many), applied as
// CUDA_VISIBLE_DEVICES so that LibTorch, NCCL, CUPTI and the processes a run starts all see the
// same GPUs. Plain string logic, no CUDA: the tests run it anywhere.
#include <string>
#include <vector>

namespace hmb::train {

// --gpu-devices: which GPUs the run may use, as device numbers separated by ',' or '_' ("0,2"
// or "0_2": HEPscore's argument values cannot hold a comma); "" for every GPU. Parsed, or an
// Error naming the option.
std::vector<int> parse_gpu_devices(const std::string& list);

// The CUDA_VISIBLE_DEVICES value that selects `list` (parse_gpu_devices) given the current
// value (nullptr: not set). The numbers count the GPUs this process sees: with
// CUDA_VISIBLE_DEVICES already set, they index its entries, which may be numbers or UUIDs.
std::string visible_devices_for(const std::string& list, const char* current);

// Applies --gpu-devices to this process (and the processes it starts) by setting
// CUDA_VISIBLE_DEVICES, before anything starts CUDA. A process started by a run that applied it
// already (hep-mlbench's own launcher) leaves it as it is. Returns what it set, or "".
std::string apply_gpu_devices(const std::string& list);

}  // namespace hmb::train
