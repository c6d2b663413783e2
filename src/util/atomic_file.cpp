#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb {

namespace fs = std::filesystem;

namespace {
std::string sys_error() { return std::strerror(errno); }
}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const RemoveOnForcedExit cleanup(tmp);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error("cannot write '" + path + "': " + sys_error() +
                " (check that the folder exists and is writable)");
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = sys_error();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error("cannot write '" + path + "': " + why + " (disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = sys_error();
    ::unlink(tmp.c_str());
    throw Error("cannot write '" + path + "': " + why);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = sys_error();
    ::unlink(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

void ensure_writable_dir(const std::string& dir, const std::string& option) {
  const std::string what_to_do = " (choose a writable folder with " + option +
                                 ", or let this user write there: a container's user, e.g. with chmod 1777)";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec && !fs::is_directory(dir)) {
    throw Error("results folder '" + dir + "' cannot be created: " + ec.message() + what_to_do);
  }
  const std::string probe = (fs::path(dir) / (".hep-mlbench-probe." + std::to_string(::getpid()))).string();
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error("results folder '" + dir + "' is not writable: " + sys_error() + what_to_do);
  }
  ::close(fd);
  ::unlink(probe.c_str());
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    const mode_t current = ::umask(0);
    const auto wanted = static_cast<mode_t>(umask_for_folder(st.st_uid, ::geteuid(), current));
    ::umask(wanted);
    if (wanted != current)
      spdlog::info("results folder '{}' belongs to uid {}, not to this user (uid {}): what is written there is "
                   "left writable by all (umask 0), so that its owner can remove it",
                   dir, st.st_uid, ::geteuid());
  }
}

unsigned umask_for_folder(unsigned folder_owner, unsigned me, unsigned current) {
  return folder_owner == me ? current : 0U;
}

}  // namespace hmb
