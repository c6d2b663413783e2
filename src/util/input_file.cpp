#include "util/input_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.hpp"

namespace hmb {

std::string input_file_problem(const std::string& path, bool pipe_ok) {
  if (path.empty()) return "is empty: give the path of a file";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {  // follows a symbolic link: what is read is where it leads
    const int err = errno;
    struct stat link {};
    if (err == ENOENT && ::lstat(path.c_str(), &link) == 0) return "is a symbolic link to a file that does not exist";
    if (err == ENOENT) return "does not exist";
    return "cannot be read: " + std::string(std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) return "is a folder, not a file";
  if (S_ISFIFO(st.st_mode) && !pipe_ok) return "is a FIFO (named pipe), not a file";
  if (S_ISSOCK(st.st_mode)) return "is a socket, not a file";
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "is a device, not a file";
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) return "is not a regular file";
  if (::access(path.c_str(), R_OK) != 0)
    return "cannot be read: " + std::string(std::strerror(errno)) +
           " (check its permissions, and that this user, e.g. a container's, may read it)";
  return "";
}

void require_input_file(const std::string& path, const std::string& what, const std::string& hint, bool pipe_ok) {
  const std::string problem = input_file_problem(path, pipe_ok);
  if (!problem.empty()) throw Error(what + " '" + path + "' " + problem + hint);
}

}  // namespace hmb
