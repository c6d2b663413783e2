#pragma once
// Write-then-rename: a reader (HEPscore, a person, the next run) sees either the old file or
// the complete new one, never a half-written file.
#include <string>

namespace hmb {

// The file that writing `path` by write-then-rename replaces: `path` itself or, when it is a
// symbolic link, the file the link leads to (so that the link stays a link). Throws Error,
// naming `path` and `option` (the option that chose it, may be empty), when that is not a
// regular file or a path still free: a folder, a device (/dev/null), a FIFO or a socket, which a
// rename would silently replace with a plain file; or when its folder does not exist.
std::string output_target(const std::string& path, const std::string& option = "");

// Whether a write failed with errno `err` for want of room: a full file system, a used-up
// quota, the file-size limit.
bool out_of_room(int err);

// What to do about a write that failed with errno `err`, as " (…)": a full file system, a
// used-up quota, the file-size limit (`ulimit -f`), else a general word.
std::string write_failure_hint(int err);

// Writes `content` to `path` atomically: a temporary file beside it, flushed to disk, then
// renamed over `path` (over output_target(path)). Throws Error naming the path and what to do
// when it cannot.
void write_file_atomic(const std::string& path, const std::string& content);

// Writes `text` to standard output and flushes it. Throws Error saying so when it cannot (a
// redirection into a full disk, a closed pipe): output that was asked for and lost is a failure.
void write_stdout(const std::string& text);

// Creates `dir` (and parents) if needed and checks that hep-mlbench can write there, by
// creating and removing a probe file. Throws Error naming the folder, and `option` (the one
// that chose it) as the way to choose another, otherwise.
//
// A folder that belongs to another user (a container's user writing into the host user's
// folder, uid 4242 under HEPscore, or root under a plain `docker run`) gets what this process
// writes from then on with no permission bits masked (umask 0, folders rwxrwxrwx), so that the
// folder's owner can remove it: otherwise the subfolders written there (proc_0/ …) could be
// emptied only by their writer or root.
void ensure_writable_dir(const std::string& dir, const std::string& option = "--results");

// An exclusive lock on a results folder for as long as it lives, so that two hep-mlbench runs
// never write into one folder at once: flock(2) on the folder itself (no file is made there),
// released when the process ends, however it ends. Throws Error naming the folder, `option`
// (the way to choose another) and what to do when another process holds it. Where the file
// system offers no such locks (some network file systems) it holds none, and the debug log
// says so. A folder this process holds already gives an empty lock (nothing more to take).
class FolderLock {
 public:
  FolderLock() = default;
  FolderLock(const std::string& dir, const std::string& option);
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock();

 private:
  void release() noexcept;
  int fd_ = -1;
  std::string dir_;
};

// The umask for writing into a folder owned by `folder_owner`, for a process of effective user
// `me` whose umask is `current`: 0 when they differ, `current` otherwise.
unsigned umask_for_folder(unsigned folder_owner, unsigned me, unsigned current);

}  // namespace hmb
