#include "data/event_format.hpp"

#include <sys/sysinfo.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "data/hdf5_util.hpp"
#include "util/atomic_file.hpp"
#include "util/error.hpp"
#include "util/input_file.hpp"
#include "util/process.hpp"
#include "util/sha256.hpp"

namespace hmb::data {

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {
// HDF5's exit handler closes the files left open. A file whose write failed (a full disk) is
// left open and broken, and HDF5 1.10 crashes closing it there (SIGSEGV in H5F__close_cb), so a
// run that reported the failure and returned 1 ended in a segfault. Every file this program
// opens is closed by its handle, so the handler is turned off, before HDF5's first use.
[[maybe_unused]] const bool kNoHdf5ExitHandler = H5dont_atexit() >= 0;
}  // namespace

void EventTable::append(const float* x, const float* y, std::int64_t n, std::int8_t split_flag) {
  X.insert(X.end(), x, x + n * kXColumns);
  ygen.insert(ygen.end(), y, y + n * kYColumns);
  offsets.push_back(offsets.back() + n);
  split.push_back(split_flag);
}

std::string content_checksum(const EventTable& t) {
  Sha256 h;  // x86-64 and aarch64 are little-endian: the bytes in memory are the file's bytes
  h.update(t.offsets.data(), t.offsets.size() * sizeof(std::int64_t));
  h.update(t.X.data(), t.X.size() * sizeof(float));
  h.update(t.ygen.data(), t.ygen.size() * sizeof(float));
  h.update(t.split.data(), t.split.size());
  return h.hex();
}

// ---------------------------------------------------------------- writing
namespace {
void check(herr_t rc, const std::string& path, const std::string& what) {
  if (rc >= 0) return;
  // HDF5 says no more than that it failed. Its POSIX driver's failed write leaves errno: a full
  // disk, a quota or the file-size limit are then named as such.
  const int err = errno;
  if (out_of_room(err))
    throw Error("event file '" + path + "': HDF5 failed to " + what + ": " + std::strerror(err) +
                write_failure_hint(err));
  std::error_code ec;
  const auto folder = std::filesystem::absolute(path, ec).parent_path();
  const auto space = std::filesystem::space(folder, ec);
  const std::string free = ec ? std::string()
                              : " (" + std::to_string(space.available >> 20) + " MiB left on the disk holding '" +
                                    folder.string() + "')";
  throw Error("event file '" + path + "': HDF5 failed to " + what + free +
              ": free space there or choose another --output");
}

void write_dataset(hid_t file, const std::string& path, const char* name, hid_t type, const void* data,
                   std::vector<hsize_t> dims) {
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(dcpl.get(), 0);  // no time stamps: same content, same bytes
  H5Handle ds(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) throw Error("event file '" + path + "': cannot create dataset " + name);
  if (dims[0] > 0) check(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), path, std::string("write ") + name);
}

void write_attr_string(hid_t obj, const std::string& path, const char* name, const std::string& value) {
  H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(obj, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid()) throw Error("event file '" + path + "': cannot write attribute " + name);
  check(H5Awrite(a.get(), type.get(), value.empty() ? "" : value.c_str()), path, std::string("write attribute ") + name);
}

void write_attr_int(hid_t obj, const std::string& path, const char* name, std::int64_t value) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Handle a(H5Acreate2(obj, name, H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a.valid()) throw Error("event file '" + path + "': cannot write attribute " + name);
  check(H5Awrite(a.get(), H5T_NATIVE_INT64, &value), path, std::string("write attribute ") + name);
}
}  // namespace

void write_event_file(const std::string& requested, const EventTable& t, const std::string& source_json) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  quiet_hdf5();
  const std::string path = output_target(requested, "--output");  // not a device, FIFO or folder
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const RemoveOnForcedExit cleanup(tmp);  // a second stop signal leaves no half-written file
  try {
    errno = 0;  // check() reads what HDF5's failed write leaves
    H5Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
    H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose);
    if (!file.valid()) {
      const int err = errno;
      throw Error("event file '" + path + "': cannot create it" +
                  (err != 0 ? ": " + std::string(std::strerror(err)) + write_failure_hint(err)
                            : std::string(" (is the folder writable?)")));
    }
    const auto n_el = static_cast<hsize_t>(t.n_elements());
    write_dataset(file.get(), path, "X", H5T_IEEE_F32LE, t.X.data(), {n_el, kXColumns});
    write_dataset(file.get(), path, "ygen", H5T_IEEE_F32LE, t.ygen.data(), {n_el, kYColumns});
    write_dataset(file.get(), path, "offsets", H5T_STD_I64LE, t.offsets.data(), {t.offsets.size()});
    write_dataset(file.get(), path, "split", H5T_STD_I8LE, t.split.data(), {t.split.size()});
    std::int64_t n_train = 0;
    for (auto s : t.split) n_train += s == 0;
    H5Handle root(H5Gopen2(file.get(), "/", H5P_DEFAULT), H5Gclose);
    write_attr_string(root.get(), path, "format", kFormatName);
    write_attr_int(root.get(), path, "format_version", kFormatVersion);
    write_attr_int(root.get(), path, "n_events", t.n_events());
    write_attr_int(root.get(), path, "n_train", n_train);
    write_attr_int(root.get(), path, "n_validation", t.n_events() - n_train);
    write_attr_int(root.get(), path, "n_elements", t.n_elements());
    write_attr_string(root.get(), path, "source", source_json);
    write_attr_string(root.get(), path, "checksum_sha256", content_checksum(t));
    write_attr_string(root.get(), path, "checksum_definition", kChecksumDefinition);
    check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), path, "flush");
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);  // a write that failed (a full disk, say) leaves nothing behind
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw Error("event file '" + path + "': cannot rename the finished file into place: " + ec.message());
  }
}

// ---------------------------------------------------------------- reading and validation
namespace {
// This machine's memory and swap in GiB (0 when unknown): a file that states more data than
// could ever be held is refused before it is read.
double memory_and_swap_gib() {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return 0.0;
  const double unit = si.mem_unit > 0 ? static_cast<double>(si.mem_unit) : 1.0;
  return (static_cast<double>(si.totalram) + static_cast<double>(si.totalswap)) * unit / (1024.0 * 1024 * 1024);
}

std::string gib_text(double gib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", gib);
  return buf;
}

struct Reader {
  std::string path;
  H5Handle file;

  // Every problem found in a file says what to do about it, once.
  [[noreturn]] void fail(const std::string& object, const std::string& problem) const {
    const bool says_what_to_do = problem.find("make ") != std::string::npos;
    throw Error("event file '" + path + "', " + object + ": " + problem +
                (says_what_to_do ? "" : " (make the file again: hep-mlbench generate, scripts/make_sample.sh or "
                                        "scripts/convert_pickles.py)"));
  }

  H5Handle dataset(const char* name, int rank, hsize_t cols, H5T_class_t cls, size_t size, std::vector<hsize_t>* dims) const {
    if (H5Lexists(file.get(), name, H5P_DEFAULT) <= 0)
      fail(std::string("/") + name, "missing (not a hep-mlbench event file, or made by another version)");
    H5Handle ds(H5Dopen2(file.get(), name, H5P_DEFAULT), H5Dclose);
    if (!ds.valid()) fail(std::string("/") + name, "cannot be opened (corrupt file?)");
    H5Handle space(H5Dget_space(ds.get()), H5Sclose);
    const int r = H5Sget_simple_extent_ndims(space.get());
    if (r != rank) fail(std::string("/") + name, "has rank " + std::to_string(r) + ", expected " + std::to_string(rank));
    dims->assign(static_cast<size_t>(rank), 0);
    H5Sget_simple_extent_dims(space.get(), dims->data(), nullptr);
    if (rank == 2 && (*dims)[1] != cols)
      fail(std::string("/") + name, "has " + std::to_string((*dims)[1]) + " columns, expected " + std::to_string(cols));
    H5Handle type(H5Dget_type(ds.get()), H5Tclose);
    if (H5Tget_class(type.get()) != cls || H5Tget_size(type.get()) != size)
      fail(std::string("/") + name, std::string("has the wrong data type, expected ") +
                                        (cls == H5T_FLOAT ? "float" : "integer") + " of " + std::to_string(size) + " bytes");
    return ds;
  }

  template <class T>
  void read_all(const H5Handle& ds, hid_t mem_type, std::vector<T>& out, size_t count, const char* name) const {
    try {
      out.resize(count);
    } catch (const std::exception&) {  // bad_alloc, or length_error for a count past max_size()
      fail(std::string("/") + name, "holds " + std::to_string(count) + " values, which this process cannot hold in "
                                    "memory: make a smaller sample (scripts/make_sample.sh), or use a machine with more memory");
    }
    if (count == 0) return;
    if (H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
      fail(std::string("/") + name, "cannot be read (truncated or corrupt file?)");
  }

  std::string attr_string(const char* name) const {
    if (H5Aexists(file.get(), name) <= 0) fail(std::string("attribute ") + name, "missing");
    H5Handle a(H5Aopen(file.get(), name, H5P_DEFAULT), H5Aclose);
    H5Handle type(H5Aget_type(a.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_STRING) fail(std::string("attribute ") + name, "is not a string");
    std::string s;
    if (H5Tis_variable_str(type.get()) > 0) {
      char* p = nullptr;
      H5Handle mt(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mt.get(), H5T_VARIABLE);
      H5Tset_cset(mt.get(), H5Tget_cset(type.get()));  // h5py writes str as UTF-8; HDF5 will not convert it to ASCII
      if (H5Aread(a.get(), mt.get(), &p) < 0) fail(std::string("attribute ") + name, "cannot be read");
      s = p ? p : "";
      H5free_memory(p);
    } else {
      s.resize(H5Tget_size(type.get()));
      if (H5Aread(a.get(), type.get(), s.data()) < 0) fail(std::string("attribute ") + name, "cannot be read");
      s.resize(s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
    }
    return s;
  }

  std::int64_t attr_int(const char* name) const {
    if (H5Aexists(file.get(), name) <= 0) fail(std::string("attribute ") + name, "missing");
    H5Handle a(H5Aopen(file.get(), name, H5P_DEFAULT), H5Aclose);
    H5Handle type(H5Aget_type(a.get()), H5Tclose);
    // HDF5 would convert a float (1.5 -> 1): a version or a count that is not an integer is wrong.
    if (H5Tget_class(type.get()) != H5T_INTEGER) fail(std::string("attribute ") + name, "is not an integer");
    std::int64_t v = 0;
    if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) fail(std::string("attribute ") + name, "cannot be read as an integer");
    return v;
  }
};

Reader open_reader(const std::string& path) {
  quiet_hdf5();
  Reader r{path, {}};
  if (!std::filesystem::exists(path))
    throw Error("event file '" + path + "' does not exist (make one with `hep-mlbench generate` or scripts/make_sample.sh)");
  if (std::filesystem::is_directory(path))
    throw Error("event file '" + path + "' is a folder: give the path of the .h5 file (e.g. " + path + "/sample.h5)");
  require_input_file(path, "event file");  // a FIFO or a device would block HDF5, an unreadable file fail it
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw Error("event file '" + path + "' is not an HDF5 file (corrupt or truncated?): make it again");
  r.file = H5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!r.file.valid()) throw Error("event file '" + path + "' cannot be opened by HDF5 (corrupt or truncated?): make it again");
  const std::string format = r.attr_string("format");
  if (format != kFormatName) r.fail("attribute format", "is '" + format + "', expected '" + kFormatName + "'");
  const auto version = r.attr_int("format_version");
  if (version != kFormatVersion)
    r.fail("attribute format_version", "is " + std::to_string(version) + ", this hep-mlbench reads version " +
                                           std::to_string(kFormatVersion) +
                                           ": make the file again with this version's generate or converter");
  return r;
}
}  // namespace

EventTable read_event_file(const std::string& path, EventFileInfo* info_out, bool verify_checksum) {
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  Reader r = open_reader(path);
  EventFileInfo info;
  info.path = path;
  info.format_version = kFormatVersion;
  std::vector<hsize_t> dx, dy, doff, dsplit;
  auto X = r.dataset("X", 2, kXColumns, H5T_FLOAT, 4, &dx);
  auto Y = r.dataset("ygen", 2, kYColumns, H5T_FLOAT, 4, &dy);
  auto O = r.dataset("offsets", 1, 0, H5T_INTEGER, 8, &doff);
  auto S = r.dataset("split", 1, 0, H5T_INTEGER, 1, &dsplit);
  if (dx[0] != dy[0]) r.fail("/ygen", "has " + std::to_string(dy[0]) + " rows but /X has " + std::to_string(dx[0]));
  if (doff[0] < 1) r.fail("/offsets", "is empty");
  if (doff[0] == 1) r.fail("/offsets", "holds no events (a file of 0 events)");
  if (dsplit[0] != doff[0] - 1)
    r.fail("/split", "has " + std::to_string(dsplit[0]) + " entries for " + std::to_string(doff[0] - 1) + " events");

  EventTable t;
  r.read_all(O, H5T_NATIVE_INT64, t.offsets, doff[0], "offsets");
  if (t.offsets[0] != 0) r.fail("/offsets", "does not start at 0");
  for (size_t i = 1; i < t.offsets.size(); ++i) {
    if (t.offsets[i] < t.offsets[i - 1])
      r.fail("/offsets", "decreases at event " + std::to_string(i - 1) + " (offsets must be monotone)");
  }
  if (static_cast<hsize_t>(t.offsets.back()) != dx[0])
    r.fail("/offsets", "ends at row " + std::to_string(t.offsets.back()) + " but /X has " + std::to_string(dx[0]) +
                           " rows (offsets out of range)");
  r.read_all(S, H5T_NATIVE_INT8, t.split, dsplit[0], "split");
  for (size_t i = 0; i < t.split.size(); ++i) {
    if (t.split[i] != 0 && t.split[i] != 1) r.fail("/split", "has value " + std::to_string(t.split[i]) + " at event " + std::to_string(i) + " (0 train, 1 validation)");
    (t.split[i] == 0 ? info.n_train : info.n_validation) += 1;
  }
  if (info.n_train == 0) r.fail("/split", "has no training events (empty training split)");
  if (info.n_validation == 0) r.fail("/split", "has no validation events (empty validation split)");
  // The counts the file states must be the ones it holds (a file written by another tool, or
  // damaged, may disagree), and the data must fit in memory: checked before the large reads.
  auto stated = [&r](const char* name, std::int64_t actual, const std::string& of) {
    const auto v = r.attr_int(name);
    if (v != actual)
      r.fail(std::string("attribute ") + name, "is " + std::to_string(v) + " but the file holds " + std::to_string(actual) + " " + of);
  };
  stated("n_events", static_cast<std::int64_t>(doff[0] - 1), "events (/offsets)");
  stated("n_train", info.n_train, "training events (/split)");
  stated("n_validation", info.n_validation, "validation events (/split)");
  stated("n_elements", static_cast<std::int64_t>(dx[0]), "elements (/X rows)");
  const double need_gib = static_cast<double>(dx[0]) * (kXColumns + kYColumns) * sizeof(float) / (1024.0 * 1024 * 1024);
  const double memory_gib = memory_and_swap_gib();
  if (memory_gib > 0 && need_gib > memory_gib)
    r.fail("/X and /ygen", "hold " + std::to_string(dx[0]) + " elements, " + gib_text(need_gib) +
                               " GiB, more than this machine's memory and swap (" + gib_text(memory_gib) +
                               " GiB): make a smaller sample (scripts/make_sample.sh), or use a machine with more memory");
  r.read_all(X, H5T_NATIVE_FLOAT, t.X, dx[0] * kXColumns, "X");
  r.read_all(Y, H5T_NATIVE_FLOAT, t.ygen, dy[0] * kYColumns, "ygen");

  auto check_finite = [&](const std::vector<float>& v, int cols, const char* name) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) {
        const auto row = static_cast<std::int64_t>(i / static_cast<size_t>(cols));
        const auto ev = std::upper_bound(t.offsets.begin(), t.offsets.end(), row) - t.offsets.begin() - 1;
        r.fail(std::string("/") + name, std::string(std::isnan(v[i]) ? "NaN" : "inf") + " at row " + std::to_string(row) +
                                            " column " + std::to_string(i % static_cast<size_t>(cols)) + " (event " +
                                            std::to_string(ev) + ")");
      }
    }
  };
  check_finite(t.X, kXColumns, "X");
  check_finite(t.ygen, kYColumns, "ygen");
  // Every element is a tower or a track, and every target class one of the six: the model
  // and the loss index with these values, so anything else is refused here, before training.
  auto event_of = [&t](std::int64_t row) {
    return std::upper_bound(t.offsets.begin(), t.offsets.end(), row) - t.offsets.begin() - 1;
  };
  for (std::int64_t row = 0; row < t.n_elements(); ++row) {
    const float type = t.X[static_cast<size_t>(row * kXColumns + xcol::type)];
    if (type != float(ElementType::tower) && type != float(ElementType::track))
      r.fail("/X", "element type " + std::to_string(type) + " at row " + std::to_string(row) + " (event " +
                       std::to_string(event_of(row)) + "): column 0 must be 1 (tower) or 2 (track)");
    const float cls = t.ygen[static_cast<size_t>(row * kYColumns + ycol::cls)];
    if (cls != std::floor(cls) || cls < 0 || cls >= float(kNumClasses))
      r.fail("/ygen", "class label " + std::to_string(cls) + " at row " + std::to_string(row) + " (event " +
                          std::to_string(event_of(row)) + "): column 0 must be an integer 0.." +
                          std::to_string(kNumClasses - 1));
  }

  info.n_events = t.n_events();
  info.n_elements = t.n_elements();
  info.source_json = r.attr_string("source");
  if (!nlohmann::json::accept(info.source_json))
    r.fail("attribute source", "is not JSON (it describes how the file was made)");
  info.checksum = r.attr_string("checksum_sha256");
  if (const auto definition = r.attr_string("checksum_definition"); definition != kChecksumDefinition)
    r.fail("attribute checksum_definition", "is '" + definition.substr(0, 80) + "', this hep-mlbench computes '" +
                                                kChecksumDefinition + "'");
  if (verify_checksum) {
    const auto actual = content_checksum(t);
    if (actual != info.checksum)
      r.fail("content", "checksum mismatch: recorded " + info.checksum + ", computed " + actual +
                            " (the file was changed or damaged: make it again)");
    info.checksum_verified = true;
  }
  if (info_out != nullptr) *info_out = info;
  return t;
}

EventFileInfo inspect_event_file(const std::string& path) {
  EventFileInfo info;
  read_event_file(path, &info, /*verify_checksum=*/true);
  return info;
}

}  // namespace hmb::data
