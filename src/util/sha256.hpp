#pragma once
// SHA-256 through OpenSSL's EVP interface, for content checksums (data, weights, reports).
#include <cstddef>
#include <memory>
#include <string>

namespace hmb {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // The digest as 64 lowercase hex characters. Ends the computation.
  std::string hex();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hmb
