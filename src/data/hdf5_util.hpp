#pragma once
// Small RAII and checking helpers around HDF5's C API. The Debian HDF5 library is not built
// thread-safe: every HDF5 call in hep-mlbench runs under hdf5_mutex().
#include <hdf5.h>

#include <mutex>
#include <string>
#include <vector>

namespace hmb::data {

std::mutex& hdf5_mutex();

// Silences HDF5's own error printing (hep-mlbench reports errors itself). Idempotent.
void quiet_hdf5();

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  H5Handle(H5Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept {
    reset();
    id_ = o.id_;
    close_ = o.close_;
    o.id_ = -1;
    return *this;
  }
  ~H5Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

}  // namespace hmb::data
