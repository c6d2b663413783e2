#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>

#include "util/error.hpp"
#include "util/process.hpp"

namespace hmb {

namespace fs = std::filesystem;

namespace {
std::string sys_error() { return std::strerror(errno); }
}  // namespace

std::string output_target(const std::string& path, const std::string& option) {
  const std::string head = option.empty() ? "" : "option " + option + ": ";
  const std::string another = "choose another path" + (option.empty() ? std::string() : " with " + option);
  require(!path.empty(), head + "an empty output path (" + another + ")");
  std::error_code ec;
  fs::path target = path;
  // A link is followed to its end, which is what gets written (a dangling link's end is created
  // there), so that the link stays a link.
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
    require(hops < 40, head + "'" + path + "': too many levels of symbolic links (" + another + ")");
    const fs::path next = fs::read_symlink(target, ec);
    require(!ec, head + "cannot follow the link '" + path + "': " + ec.message() + " (" + another + ")");
    target = (next.is_absolute() ? next : target.parent_path() / next).lexically_normal();
  }
  // What the kernel finds at the end of the links comes first: a link of /proc (/dev/stdout ->
  // /proc/self/fd/1 -> "pipe:[…]") names no path that can be followed by hand.
  const auto at_target = fs::status(target, ec);
  auto found = fs::status(path, ec);
  if (found.type() == fs::file_type::not_found) found = at_target;
  const char* kind = nullptr;
  switch (found.type()) {
    case fs::file_type::not_found:
    case fs::file_type::none:  // not found out (a folder on the way this user may not enter): said below
    case fs::file_type::regular: break;
    case fs::file_type::directory: kind = "a folder"; break;
    case fs::file_type::character:
    case fs::file_type::block: kind = "a device"; break;
    case fs::file_type::fifo: kind = "a FIFO (named pipe)"; break;
    case fs::file_type::socket: kind = "a socket"; break;
    default: kind = "not a regular file"; break;
  }
  const std::string shown =
      "'" + path + "'" + (target.string() == path || !fs::exists(at_target) ? "" : " (-> '" + target.string() + "')");
  if (kind != nullptr)
    throw Error(head + shown + " is " + kind +
                ": hep-mlbench writes a file whole and then renames it into place, which would replace it (" + another +
                ")");
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const auto folder_status = fs::status(folder, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)  // e.g. a folder on the way this user may not enter
    throw Error(head + "cannot write '" + path + "': its folder '" + folder.string() + "': " + ec.message() + " (" +
                another + ")");
  require(fs::is_directory(folder_status), head + "cannot write '" + path + "': its folder '" + folder.string() +
                                               "' " +
                                               (fs::exists(folder_status) ? "is not a folder ("
                                                                          : "does not exist (create it, or ") +
                                               another + ")");
  // errno is read after access(), not while require's message is built (before it runs).
  if (::access(folder.c_str(), W_OK) != 0)
    throw Error(head + "cannot write '" + path + "': its folder '" + folder.string() + "' is not writable: " +
                sys_error() + " (" + another + ")");
  return target.string();
}

bool out_of_room(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

std::string write_failure_hint(int err) {
  switch (err) {
    case ENOSPC: return " (the file system is full: free space there, or choose another folder)";
    case EDQUOT: return " (this user's disk quota is used up: free space, or choose another folder)";
    case EFBIG: return " (over this process's file-size limit, `ulimit -f`: raise it)";
    default: return " (check the disk and the folder)";
  }
}

void write_file_atomic(const std::string& requested, const std::string& content) {
  const std::string path = output_target(requested);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const RemoveOnForcedExit cleanup(tmp);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    throw Error("cannot write '" + path + "': " + sys_error() +
                (err == ENOSPC || err == EDQUOT ? write_failure_hint(err)
                                                : " (check that the folder exists and is writable)"));
  }
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      const std::string why = sys_error();
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error("cannot write '" + path + "': " + why + write_failure_hint(err));
    }
    done += static_cast<size_t>(n);
  }
  // A network file system may report a full disk only here. The descriptor is closed either way.
  int err = ::fsync(fd) != 0 ? errno : 0;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    errno = err;
    const std::string why = sys_error();
    ::unlink(tmp.c_str());
    throw Error("cannot write '" + path + "': " + why + write_failure_hint(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = sys_error();
    ::unlink(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "': " + why);
  }
}

void write_stdout(const std::string& text) {
  errno = 0;
  std::cout << text;
  std::cout.flush();
  if (!std::cout) {
    const int err = errno;
    std::cout.clear();
    throw Error("cannot write to standard output: " + std::string(err != 0 ? std::strerror(err) : "write failed") +
                (out_of_room(err) ? write_failure_hint(err) : std::string(" (check where it is redirected)")));
  }
}

namespace {
// The folders this process holds a FolderLock on (canonical paths).
std::set<std::string>& held_folders() {
  static std::set<std::string> held;
  return held;
}
std::mutex& held_mutex() {
  static std::mutex m;
  return m;
}
std::string canonical_folder(const std::string& dir) {
  std::error_code ec;
  const auto p = fs::weakly_canonical(dir, ec);
  return ec ? dir : p.string();
}
// A new descriptor on `dir` locked exclusively; -1 with errno set when it is not.
int lock_folder(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}
}  // namespace

FolderLock::FolderLock(const std::string& dir, const std::string& option) : dir_(canonical_folder(dir)) {
  {
    std::lock_guard<std::mutex> guard(held_mutex());
    if (held_folders().count(dir_) != 0) {  // held by this process already: nothing more to take
      dir_.clear();
      return;
    }
  }
  fd_ = lock_folder(dir);
  if (fd_ < 0) {
    if (errno == EWOULDBLOCK)
      throw Error("results folder '" + dir + "' is in use by another hep-mlbench run, which is writing there: wait " +
                  "for it to end, or choose another folder with " + option + " (nothing was written there)");
    spdlog::debug("results folder '{}': no lock taken ({}): two runs there at once would not be noticed", dir,
                  std::strerror(errno));
    return;
  }
  std::lock_guard<std::mutex> guard(held_mutex());
  held_folders().insert(dir_);
}

FolderLock::FolderLock(FolderLock&& other) noexcept : fd_(other.fd_), dir_(std::move(other.dir_)) { other.fd_ = -1; }

FolderLock& FolderLock::operator=(FolderLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    dir_ = std::move(other.dir_);
    other.fd_ = -1;
  }
  return *this;
}

FolderLock::~FolderLock() { release(); }

void FolderLock::release() noexcept {
  if (fd_ < 0) return;
  {
    std::lock_guard<std::mutex> guard(held_mutex());
    held_folders().erase(dir_);
  }
  ::close(fd_);  // releases the lock
  fd_ = -1;
}

void ensure_writable_dir(const std::string& dir, const std::string& option) {
  const std::string what_to_do = " (choose a writable folder with " + option +
                                 ", or let this user write there: a container's user, e.g. with chmod 1777)";
  std::error_code ec;
  require(!dir.empty(), "results folder '' is empty: give a folder with " + option);
  fs::create_directories(dir, ec);
  if (ec && !fs::is_directory(dir)) {
    // What lies in the way, said as such (create_directories says "File exists" or "Not a directory").
    std::error_code ignored;
    const auto st = fs::symlink_status(dir, ignored);
    std::string why = ec.message();
    if (fs::is_symlink(st))
      why = "it is a symbolic link to '" + fs::read_symlink(dir, ignored).string() + "', which is not a folder";
    else if (fs::exists(st))
      why = "a file of that name is in the way, not a folder";
    throw Error("results folder '" + dir + "' cannot be created: " + why + what_to_do);
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
